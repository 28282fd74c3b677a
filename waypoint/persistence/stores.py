"""Open everything one database URL decides: the saver, the Store and Waypoint's own tables.

The Store is LangGraph's long-term memory (`runtime.store` in a node).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import aiosqlite
import psycopg
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.store.base import BaseStore
from langgraph.store.postgres.aio import AsyncPostgresStore

from waypoint.errors import DatabaseUnavailable
from waypoint.persistence.at_rest import checkpoint_serializer
from waypoint.persistence.migrations import migrate
from waypoint.persistence.migrations import registered as registered_migrations
from waypoint.persistence.observed_savers import ObservedPostgresSaver, ObservedSqliteSaver
from waypoint.persistence.sql import (
    Database,
    PostgresDatabase,
    SqliteDatabase,
    open_postgres_pool,
)
from waypoint.persistence.store_values import NulSafePostgresStore, NulSafeSqliteStore
from waypoint.persistence.urls import DatabaseURL, check_sqlite_location, parse_db_url
from waypoint.private_files import private_file

_current_stores: ContextVar[Stores | None] = ContextVar("waypoint_stores", default=None)
_lazy_databases: dict[tuple[int, str], Database] = {}


@dataclass
class Stores:
    """An open checkpoint saver and the Waypoint tables of the same database."""

    url: DatabaseURL
    checkpointer: BaseCheckpointSaver[Any]
    db: Database
    migrated: int = 0
    """How many registered migrations were known when the tables were last brought up to date."""
    store: BaseStore | None = None
    """LangGraph's Store on the same database (`store_values`: NUL replaced in its values)."""


async def _sqlite_saver(
    path: str, serde: SerializerProtocol
) -> tuple[ObservedSqliteSaver, aiosqlite.Connection]:
    conn = await aiosqlite.connect(path, timeout=30)
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA busy_timeout=30000")
    saver = ObservedSqliteSaver(conn, serde=serde)
    await saver.setup()
    return saver, conn


async def _postgres_schema_current(db: PostgresDatabase) -> bool:
    """Whether the saver's and Waypoint's migrations are all applied (one query)."""
    try:
        row = await db.fetchone(
            "SELECT (SELECT max(v) FROM checkpoint_migrations) AS saver, "
            "(SELECT string_agg(component || ':' || version, ',') "
            "FROM waypoint_schema_migrations) AS waypoint"
        )
    except psycopg.errors.UndefinedTable:
        return False
    if row is None or row["saver"] != len(AsyncPostgresSaver.MIGRATIONS) - 1:
        return False
    try:
        store = await db.fetchone("SELECT max(v) AS v FROM store_migrations")
    except psycopg.errors.UndefinedTable:
        return False
    if store is None or store["v"] != len(AsyncPostgresStore.MIGRATIONS) - 1:
        return False
    applied = set(str(row["waypoint"] or "").split(","))
    return {f"{m.component}:{m.version}" for m in registered_migrations()} <= applied


async def _stop_store(store: BaseStore | None) -> None:
    """Stop the Store's batching task before its connection closes.

    LangGraph's async stores batch operations in a task of their own (`AsyncBatchedBaseStore`,
    attribute `_task`) that only `__del__` cancels; left running it is reported as "Task was
    destroyed but it is pending" when the event loop ends.
    """
    task = getattr(store, "_task", None)
    if isinstance(task, asyncio.Task) and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@asynccontextmanager
async def _sqlite_setup_lock(path: str) -> AsyncIterator[None]:
    """Hold an exclusive lock, across processes, while the saver, Store and tables are set up.

    `AsyncSqliteStore.setup()` reads its migration version and applies the rest in separate
    statements (`executescript` commits as it goes), so two processes opening a new file at once
    both add the same column ("duplicate column name: ttl_minutes"). The lock is `flock` on the
    database's folder: no file is created for it, and never on the database file itself, whose
    POSIX locks belong to SQLite and would be dropped when another descriptor of it closes.
    """
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


async def _sqlite_store(path: str) -> tuple[NulSafeSqliteStore, aiosqlite.Connection]:
    conn = await aiosqlite.connect(path, timeout=30, isolation_level=None)
    try:
        await conn.execute("PRAGMA busy_timeout=30000")
        store = NulSafeSqliteStore(conn)  # NUL in a value replaced, as on Postgres
        await store.setup()
    except BaseException:
        await conn.close()
        raise
    return store, conn


@asynccontextmanager
async def _current(stores: Stores) -> AsyncIterator[Stores]:
    """Newly opened `stores`, migrated, as the context's own until exit; their Store stopped."""
    stores.migrated = len(registered_migrations())
    token = _current_stores.set(stores)
    try:
        yield stores
    finally:
        _current_stores.reset(token)
        await _stop_store(stores.store)


@asynccontextmanager
async def open_stores(url: str | None = None, *, pool_size: int = 12) -> AsyncIterator[Stores]:
    """Open the saver and tables for `url` (see `parse_db_url`), run migrations, and close after.

    Postgres: one psycopg pool (autocommit, prepare_threshold=0, dict rows) shared by
    `AsyncPostgresSaver` and Waypoint's tables; `setup()` and migrations run under an advisory
    lock, so first use from several processes at once is safe, and are skipped when one query
    shows them applied. SQLite: WAL mode, one connection for the saver and one for Waypoint's
    tables. Both savers get `checkpoint_serializer()`: strict, and encrypted when a key is set.
    Either way the saver's setup runs before Waypoint's migrations, which install the writer
    fence on its `checkpoints` table (`waypoint.persistence.writer_fence`). The LangGraph Store
    (`Stores.store`) lives in the same database: on Postgres it shares the pool, on SQLite it
    has a connection of its own; its tables are set up with the saver's.

    Inside an open `open_stores` for the same URL, this reuses those stores instead of opening
    new ones: a long-lived process (a service, a batch, the demo) opens them once around many
    runs.

    Raises:
        BadInput: the URL or the encryption key configuration is invalid (nothing is opened).
        DatabaseUnavailable: the database cannot be reached.
    """
    parsed = parse_db_url(url)
    serde = checkpoint_serializer()  # a bad key fails here, before any file or table exists
    already = _current_stores.get()
    if already is not None and already.url.url == parsed.url:
        if already.migrated != len(registered_migrations()):
            # a workflow imported since registered its own tables
            await migrate(already.db)
            already.migrated = len(registered_migrations())
        yield already
        return
    if parsed.kind == "sqlite":
        assert parsed.sqlite_path is not None
        check_sqlite_location(parsed.sqlite_path)  # bad input: exit 2, nothing created
        private_file(parsed.sqlite_path)  # 0600 in a 0700 folder when Waypoint creates them
        path = str(parsed.sqlite_path)
        db: SqliteDatabase | None = None
        saver_conn = store_conn = None
        try:
            # switching a new file to WAL can fail "database is locked" while another process
            # does the same, without waiting: the connections are opened under the lock too
            async with _sqlite_setup_lock(path):
                db = await SqliteDatabase.open(path)
                # the saver's tables first: Waypoint's migrations fence its `checkpoints`
                saver, saver_conn = await _sqlite_saver(path, serde)
                store, store_conn = await _sqlite_store(path)
                await migrate(db)
            db.writers_lock = saver.lock  # the ledger and the checkpoints take turns
        except BaseException:
            for conn in (saver_conn, store_conn):
                if conn is not None:
                    await conn.close()
            if db is not None:
                await db.close()
            raise
        try:
            async with _current(Stores(parsed, saver, db, store=store)) as stores:
                yield stores
        finally:
            await saver_conn.close()
            await store_conn.close()
            await db.close()
        return

    try:
        pool = await open_postgres_pool(parsed.url, max_size=pool_size)
    except (psycopg.OperationalError, TimeoutError) as exc:
        raise DatabaseUnavailable(
            f"cannot reach Postgres at {parsed.redacted}: {exc}. Is it running? "
            "Check --db / WAYPOINT_DB_URL."
        ) from exc
    try:
        pg = PostgresDatabase(pool)
        pg_saver = ObservedPostgresSaver(pool, serde=serde)
        pg_store = NulSafePostgresStore(pool)  # JSONB cannot hold NUL: replaced in values
        pg.writers_lock = pg_saver.lock
        if not await _postgres_schema_current(pg):
            async with pg.session_lock("waypoint_saver_setup"):
                if not await _postgres_schema_current(pg):  # another process may have done it
                    await pg_saver.setup()
                    await pg_store.setup()
                    await migrate(pg)
        try:
            async with _current(Stores(parsed, pg_saver, pg, store=pg_store)) as stores:
                yield stores
        finally:
            await pg.close()
    finally:
        await pool.close()


def current_database() -> Database | None:
    """The database the runner opened for this run, if any."""
    stores = _current_stores.get()
    return stores.db if stores is not None else None


async def database_for_run() -> Database:
    """The Waypoint database of the current run.

    The command line and tests set it by opening `open_stores`. Under a LangGraph server, where
    the server owns the checkpointer, it is opened once per event loop from `WAYPOINT_DB_URL`
    (default: the SQLite file under `.waypoint/`).
    """
    current = current_database()
    if current is not None:
        return current
    parsed = parse_db_url()
    key = (id(asyncio.get_running_loop()), parsed.url)
    if key not in _lazy_databases:
        db: Database
        if parsed.kind == "sqlite":
            assert parsed.sqlite_path is not None
            # off the event loop: `langgraph dev` refuses blocking calls in a run
            await asyncio.to_thread(private_file, parsed.sqlite_path)
            db = await SqliteDatabase.open(str(parsed.sqlite_path))
        else:
            db = PostgresDatabase(await open_postgres_pool(parsed.url))
        await migrate(db)
        _lazy_databases[key] = db
    return _lazy_databases[key]

"""A small async SQL interface over SQLite (aiosqlite) and Postgres (psycopg pool).

Waypoint's own tables (migrations, thread index, side effects) use it; the checkpoint savers use
their own connections (SQLite) or share the same pool (Postgres). SQL is written once with
`:name` placeholders and rewritten for psycopg.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, Literal, Protocol, TypeVar

import psycopg
from psycopg import AsyncConnection, AsyncRawCursor
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

Row = dict[str, Any]
Params = Mapping[str, Any] | None
Statement = tuple[str, Params]
"""One SQL statement with `:name` placeholders and its parameters."""
Writes = Sequence[Statement] | Callable[[], Sequence[Statement]]
"""Statements, or what makes them when the database is ready for them (`Database.batch`)."""
T = TypeVar("T")

_NAMED_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@functools.lru_cache(maxsize=512)  # the same few statements, again and again
def to_psycopg(sql: str) -> str:
    """Rewrite `:name` placeholders as psycopg's `%(name)s` (leaves `::casts` alone)."""
    return _NAMED_PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))


@functools.lru_cache(maxsize=512)
def to_numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """Rewrite `:name` placeholders as Postgres's own `$1, $2...`; the names in that order.

    For psycopg's raw cursor, which sends the text as it is: psycopg parses a statement's
    placeholders on every execution once it has more than 50 parameters (it caches only
    smaller ones). Ledger batches had 40-200 when that was measured; since their rows go as one
    JSON parameter (`ledger._as_json`) they have a handful, so this path no longer saves
    anything measured over psycopg's own placeholders; it is kept, not re-measured.
    """
    names: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        return f"${names.setdefault(match.group(1), len(names) + 1)}"

    return _NAMED_PARAM.sub(number, sql), tuple(names)


class Executor(Protocol):
    """What a connection or an open transaction can do."""

    kind: Literal["sqlite", "postgres"]

    async def execute(self, sql: str, params: Params = None) -> int:
        """Run one statement; return the affected row count."""
        ...

    async def fetchall(self, sql: str, params: Params = None) -> list[Row]:
        """Run a query; return every row as a dict."""
        ...

    async def fetchone(self, sql: str, params: Params = None) -> Row | None:
        """Run a query; return its first row or None."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None


class Database(Executor, Protocol):
    """A database handle that can also open transactions."""

    async def batch(
        self, writes: Writes, query: Statement | None = None, *, relaxed: bool = False
    ) -> list[Row]:
        """Apply `writes`, then run `query`, atomically and in one round trip; `query`'s rows.

        The writes must touch different rows and must not depend on each other (on Postgres
        they run as one statement, on one snapshot). A callable is asked for them once the
        database is ready for this batch (after any wait for a lock), so what is written
        includes what was added while it waited. `relaxed`: Postgres acknowledges the
        commit before its WAL is on disk (`synchronous_commit = off`). The rows outlive the
        caller dying, and the next durable commit (a checkpoint) flushes them; only a crash of
        the database server itself in between can lose them.
        """
        ...

    def transaction(self, *, lock_key: str | None = None) -> _TxContext:
        """Open a transaction; `lock_key` serialises it against others with the same key."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


_TxContext = Any  # an async context manager yielding an Executor


def _sqlite_run(conn: sqlite3.Connection, sql: str, params: Params) -> tuple[int, list[Row]]:
    cursor = conn.execute(sql, dict(params or {}))
    try:
        rows = [dict(row) for row in cursor.fetchall()] if cursor.description else []
        return cursor.rowcount, rows
    finally:
        cursor.close()


def _sqlite_batch(
    conn: sqlite3.Connection,
    statements: Sequence[Statement],
    *,
    own_transaction: bool,
) -> list[Row]:
    if own_transaction:
        conn.execute("BEGIN IMMEDIATE")
    try:
        rows = [_sqlite_run(conn, sql, params)[1] for sql, params in statements]
    except BaseException:
        if own_transaction:
            conn.execute("ROLLBACK")
        raise
    if own_transaction:
        conn.execute("COMMIT")
    return rows[-1] if rows else []


def _made(writes: Writes) -> Sequence[Statement]:
    return writes() if callable(writes) else writes


def _rollback_if_open(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


class SqliteDatabase(Executor):
    """Waypoint tables in an SQLite file (WAL, busy timeout, autocommit outside transactions).

    One connection, used from one worker thread, one task at a time: an `asyncio.Lock` makes
    concurrent runs in one process (a server, `asyncio.gather`) take turns instead of
    interleaving statements on the connection, which would nest transactions. The task holding
    the lock inside `transaction()` may keep using the database directly; its statements join
    the transaction.
    """

    kind: Literal["sqlite", "postgres"] = "sqlite"

    def __init__(self, conn: sqlite3.Connection, worker: ThreadPoolExecutor) -> None:
        """Wrap a connection made by `open`, used only on `worker`."""
        self.conn = conn
        self._worker = worker
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self.writers_lock: asyncio.Lock | None = None
        """The lock the checkpoint saver on the same file holds around each of its writes.

        `batch` holds it too, so the ledger's writes and the checkpoints of the same process
        take turns here instead of in SQLite: two connections of one file contend for its
        write lock, and the one that loses sleeps in SQLite's busy handler (1, 2, 5, 10 ms...)
        while nothing else holds it. A `Send` fan-out's tasks write ledger rows and
        checkpoints at once: ≈20 of the ≈55 ledger trips of a 6-way `research` run waited so,
        ≈70 ms of the run (`bench/suites/research_fanout.py`). Other processes on the file still
        meet in SQLite's lock (the busy timeout).
        """

    @classmethod
    async def open(cls, path: str) -> SqliteDatabase:
        """Open (creating if needed) the SQLite file at `path`."""
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="waypoint-sqlite")

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn

        try:
            conn = await asyncio.get_running_loop().run_in_executor(worker, connect)
        except BaseException:
            worker.shutdown(wait=False)
            raise
        return cls(conn, worker)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._worker, functools.partial(fn, *args)
        )

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[bool]:
        """Wait for this task's turn on the connection; yields False if it already had it."""
        task = asyncio.current_task()
        if task is not None and self._owner is task:
            yield False
            return
        async with self._lock:
            self._owner = task
            try:
                yield True
            finally:
                self._owner = None

    async def execute(self, sql: str, params: Params = None) -> int:
        """Run one statement; return the affected row count."""
        async with self._turn():
            count, _ = await self._call(_sqlite_run, self.conn, sql, params)
            return count

    async def fetchall(self, sql: str, params: Params = None) -> list[Row]:
        """Run a query; return every row as a dict."""
        async with self._turn():
            _, rows = await self._call(_sqlite_run, self.conn, sql, params)
            return rows

    async def batch(
        self, writes: Writes, query: Statement | None = None, *, relaxed: bool = False
    ) -> list[Row]:
        """Apply `writes`, then run `query`, in one transaction and one hop to the worker.

        `relaxed` changes nothing here: WAL with `synchronous=NORMAL` never waits for the disk.
        """
        del relaxed
        async with self._turn() as own:
            work = functools.partial(_sqlite_batch, own_transaction=own)
            if not own or self.writers_lock is None or not writes:
                statements = [*_made(writes), *([query] if query else [])]
                rows = await self._call(work, self.conn, statements)
            else:
                async with self.writers_lock:
                    statements = [*_made(writes), *([query] if query else [])]
                    call = self._worker.submit(functools.partial(work, self.conn, statements))
                    try:
                        rows = await asyncio.wrap_future(call)
                    except asyncio.CancelledError:
                        # the saver's next write must not start while ours still runs: a
                        # cancelled caller keeps the lock until the statements it sent have ended
                        if not call.cancel():
                            await asyncio.wait([asyncio.wrap_future(call)])
                        raise
            return rows if query else []

    @asynccontextmanager
    async def transaction(self, *, lock_key: str | None = None) -> AsyncIterator[SqliteDatabase]:
        """`BEGIN IMMEDIATE` takes SQLite's write lock, which serialises every writer."""
        del lock_key  # the file-wide write lock already serialises everything
        async with self._turn():
            # Shielded: a cancelled task (a kill) must not drop a queued BEGIN, COMMIT or
            # ROLLBACK from the worker's queue, which would leave the connection inside a
            # transaction; the worker runs them in order, so the next caller finds it clean.
            try:
                await asyncio.shield(self._call(self.conn.execute, "BEGIN IMMEDIATE"))
                yield self
            except BaseException:
                await asyncio.shield(self._call(_rollback_if_open, self.conn))
                raise
            await asyncio.shield(self._call(self.conn.execute, "COMMIT"))

    async def close(self) -> None:
        """Close the connection and its worker thread."""
        async with self._lock:
            await self._call(self.conn.close)
        self._worker.shutdown(wait=False)


class _PostgresTx(Executor):
    """An open Postgres transaction on one pooled connection."""

    kind: Literal["sqlite", "postgres"] = "postgres"

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: Params = None) -> int:
        cursor = await self.conn.execute(to_psycopg(sql), dict(params or {}))
        return int(cursor.rowcount)

    async def fetchall(self, sql: str, params: Params = None) -> list[Row]:
        cursor = await self.conn.execute(to_psycopg(sql), dict(params or {}))
        return list(await cursor.fetchall())


class PostgresDatabase(Executor):
    """Waypoint tables on Postgres, sharing the checkpointer's connection pool."""

    kind: Literal["sqlite", "postgres"] = "postgres"

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        """Wrap a pool opened by `open_postgres_pool`."""
        self.pool = pool
        self.held_locks: set[str] = set()
        """Session advisory locks this process holds on its session."""
        self._session: AsyncConnection[Any] | None = None
        self._session_ready = asyncio.Lock()
        self.writers_lock: asyncio.Lock | None = None
        """The checkpoint saver's lock (it holds it around each of its queries).

        A batch whose writes are made late (a callable) makes them once the saver's query in
        flight has ended, then runs on its own connection alongside the saver's next: the
        ledger rows of nodes that start while a checkpoint is being written go in one trip
        (a 6-way `research` run: 55 trips -> ≈22, 1.28x -> 1.25x bare).
        """

    async def session(self) -> AsyncConnection[Any]:
        """This process's own connection: advisory locks and relaxed batches.

        It holds the session-level advisory locks (thread writer locks) and writes relaxed
        batches (`synchronous_commit = off`). Taken from the pool for as long as the database
        is open, so concurrent runs in one process do not each pin a pooled connection for
        their whole duration. A broken one is replaced (its locks died with it).
        """
        async with self._session_ready:
            conn = self._session
            if conn is None or conn.closed or conn.broken:
                if conn is not None:
                    await self.pool.putconn(conn)
                    self.held_locks.clear()
                conn = await self.pool.getconn()
                await conn.execute("SET synchronous_commit = off")
                self._session = conn
            return conn

    async def execute(self, sql: str, params: Params = None) -> int:
        """Run one statement (autocommit); return the affected row count."""
        async with self.pool.connection() as conn:
            return await _PostgresTx(conn).execute(sql, params)

    async def fetchall(self, sql: str, params: Params = None) -> list[Row]:
        """Run a query; return every row as a dict."""
        async with self.pool.connection() as conn:
            return await _PostgresTx(conn).fetchall(sql, params)

    async def batch(
        self, writes: Writes, query: Statement | None = None, *, relaxed: bool = False
    ) -> list[Row]:
        """Apply `writes`, then run `query`, as one statement (data-modifying CTEs).

        `relaxed` statements go through the process session, whose commits do not wait for
        the disk.
        """
        if callable(writes) and self.writers_lock is not None:
            async with self.writers_lock:  # the saver's query in flight ends first
                writes = writes()
        writes = _made(writes)
        sql, params = as_one_statement(writes, query) if writes else (query or ("SELECT 1", None))
        if relaxed:
            numbered, names = to_numbered(sql)
            values = [(params or {})[name] for name in names]
            cursor = AsyncRawCursor(await self.session(), row_factory=dict_row)
            async with cursor:
                await cursor.execute(numbered, values)
                rows = await cursor.fetchall() if cursor.description else []
        else:
            rows = await self.fetchall(sql, params)
        return rows if query else []

    @asynccontextmanager
    async def transaction(self, *, lock_key: str | None = None) -> AsyncIterator[_PostgresTx]:
        """A transaction; with `lock_key`, serialised by a transaction-scoped advisory lock."""
        async with self.pool.connection() as conn, conn.transaction():
            if lock_key is not None:
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock_key,))
            yield _PostgresTx(conn)

    @asynccontextmanager
    async def session_lock(self, key: str) -> AsyncIterator[None]:
        """A session-level advisory lock held outside any transaction.

        For work that must not run inside a transaction, such as the saver's `setup()`, whose
        `CREATE INDEX CONCURRENTLY` would wait forever on a transaction held open around it.
        """
        async with self.pool.connection() as conn:
            # Poll with the try variant: a session blocked inside `pg_advisory_lock` holds a
            # snapshot, and the holder's `CREATE INDEX CONCURRENTLY` waits for every snapshot:
            # they would wait for each other for ever.
            while True:
                cursor = await conn.execute(
                    "SELECT pg_try_advisory_lock(hashtext(%s)) AS locked", (key,)
                )
                row = await cursor.fetchone()
                if row and row["locked"]:
                    break
                await asyncio.sleep(0.05)
            try:
                yield
            finally:
                await conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))

    async def close(self) -> None:
        """Give the session back as the pool lent it; the pool belongs to whoever opened it."""
        conn, self._session = self._session, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):  # a broken one is dropped by the pool
                await conn.execute("RESET synchronous_commit")
            await self.pool.putconn(conn)


@functools.lru_cache(maxsize=512)
def _prefixed_sql(sql: str, prefix: str) -> str:
    return _NAMED_PARAM.sub(lambda m: f":{prefix}{m.group(1)}", sql)


def _prefixed(sql: str, params: Params, prefix: str) -> tuple[str, dict[str, Any]]:
    """Rename `:name` placeholders (and their parameters) to `:{prefix}name`."""
    return _prefixed_sql(sql, prefix), {f"{prefix}{k}": v for k, v in (params or {}).items()}


def as_one_statement(writes: Sequence[Statement], query: Statement | None) -> Statement:
    """Postgres: several writes and a final query as one statement of data-modifying CTEs.

    One statement is one round trip and one commit; all parts see the same snapshot, so the
    writes must touch different rows.
    """
    parts: list[str] = []
    params: dict[str, Any] = {}
    for index, (sql, args) in enumerate(writes):
        renamed, renamed_args = _prefixed(sql, args, f"w{index}_")
        parts.append(f"w{index} AS ({renamed})")
        params.update(renamed_args)
    final, final_args = _prefixed(*(query or ("SELECT 1", None)), "q_")
    params.update(final_args)
    return f"WITH {', '.join(parts)} {final}", params


def postgres_connection_kwargs() -> dict[str, Any]:
    """Settings every Postgres connection needs (the saver relies on all three)."""
    return {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}


async def open_postgres_pool(
    url: str, *, min_size: int = 1, max_size: int = 4
) -> AsyncConnectionPool[Any]:
    """Open a psycopg pool with the saver's connection settings; waits until it is usable."""
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        conninfo=url,
        min_size=min(min_size, max_size),
        max_size=max_size,
        kwargs=postgres_connection_kwargs(),
        open=False,
        timeout=10,
    )
    await pool.open(wait=True, timeout=10)
    return pool

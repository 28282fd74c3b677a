"""A small async SQL interface over SQLite (aiosqlite) and Postgres (psycopg pool).

Waypoint's own tables (migrations, thread index, side effects) use it; the checkpoint savers use
their own connections (SQLite) or share the same pool (Postgres). SQL is written once with
`:name` placeholders and rewritten for psycopg.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal, Protocol

import aiosqlite
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

Row = dict[str, Any]
Params = Mapping[str, Any] | None

_NAMED_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def to_psycopg(sql: str) -> str:
    """Rewrite `:name` placeholders as psycopg's `%(name)s` (leaves `::casts` alone)."""
    return _NAMED_PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))


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
        ...


class Database(Executor, Protocol):
    """A database handle that can also open transactions."""

    def transaction(self, *, lock_key: str | None = None) -> _TxContext:
        """Open a transaction; `lock_key` serialises it against others with the same key."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


_TxContext = Any  # an async context manager yielding an Executor


class SqliteDatabase:
    """Waypoint tables in an SQLite file (WAL, busy timeout, autocommit outside transactions)."""

    kind: Literal["sqlite", "postgres"] = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        """Wrap an open aiosqlite connection."""
        self.conn = conn

    @classmethod
    async def open(cls, path: str) -> SqliteDatabase:
        """Open (creating if needed) the SQLite file at `path`."""
        conn = await aiosqlite.connect(path, isolation_level=None, timeout=30)
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA busy_timeout=30000")
        await conn.execute("PRAGMA synchronous=NORMAL")
        return cls(conn)

    async def execute(self, sql: str, params: Params = None) -> int:
        """Run one statement; return the affected row count."""
        cursor = await self.conn.execute(sql, dict(params or {}))
        count = cursor.rowcount
        await cursor.close()
        return count

    async def executescript(self, script: str) -> None:
        """Run several statements (migrations)."""
        await self.conn.executescript(script)

    async def fetchall(self, sql: str, params: Params = None) -> list[Row]:
        """Run a query; return every row as a dict."""
        cursor = await self.conn.execute(sql, dict(params or {}))
        rows = await cursor.fetchall()
        await cursor.close()
        return [dict(row) for row in rows]

    async def fetchone(self, sql: str, params: Params = None) -> Row | None:
        """Run a query; return its first row or None."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    @asynccontextmanager
    async def transaction(self, *, lock_key: str | None = None) -> AsyncIterator[SqliteDatabase]:
        """`BEGIN IMMEDIATE` takes SQLite's write lock, which serialises every writer."""
        del lock_key  # the file-wide write lock already serialises everything
        await self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            await self.conn.execute("ROLLBACK")
            raise
        await self.conn.execute("COMMIT")

    async def close(self) -> None:
        """Close the connection."""
        await self.conn.close()


class _PostgresTx:
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

    async def fetchone(self, sql: str, params: Params = None) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None


class PostgresDatabase:
    """Waypoint tables on Postgres, sharing the checkpointer's connection pool."""

    kind: Literal["sqlite", "postgres"] = "postgres"

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        """Wrap a pool opened by `open_postgres_pool`."""
        self.pool = pool

    async def execute(self, sql: str, params: Params = None) -> int:
        """Run one statement (autocommit); return the affected row count."""
        async with self.pool.connection() as conn:
            return await _PostgresTx(conn).execute(sql, params)

    async def fetchall(self, sql: str, params: Params = None) -> list[Row]:
        """Run a query; return every row as a dict."""
        async with self.pool.connection() as conn:
            return await _PostgresTx(conn).fetchall(sql, params)

    async def fetchone(self, sql: str, params: Params = None) -> Row | None:
        """Run a query; return its first row or None."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

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
            await conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
            try:
                yield
            finally:
                await conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))

    async def close(self) -> None:
        """The pool belongs to whoever opened it; nothing to do here."""


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


def rows_as_dicts(rows: Sequence[Mapping[str, Any]]) -> list[Row]:
    """Copy rows into plain dicts (for rendering and JSON)."""
    return [dict(row) for row in rows]

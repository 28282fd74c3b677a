"""One writer per thread: a lock that the database (or the OS) releases when the holder dies.

Postgres: a session-level advisory lock on the process's session (one connection that holds
the locks of every thread this process runs); if the process dies, its connection closes and the
locks go with it. SQLite: an exclusive `flock` on a lock
file beside the database, which the kernel releases when the process dies. Either way the second
writer fails at once with `ThreadBusy` (exit 5) naming the holder, before it writes anything.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from waypoint.errors import ThreadBusy
from waypoint.persistence.sql import Database, PostgresDatabase, to_psycopg
from waypoint.persistence.urls import DatabaseURL


def holder_name() -> str:
    """This process, as other processes will see it: `host:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _lock_key(thread_id: str) -> str:
    return f"waypoint-thread:{thread_id}"


def _name_holder(rows: str) -> str:
    """SQL naming this process the thread's holder, for each row of `rows` (a FROM/WHERE tail).

    SQLite needs a WHERE in an `INSERT ... SELECT` that ends in an upsert.
    """
    return (
        "INSERT INTO waypoint_thread_holders (thread_id, holder, acquired_at) "
        f"SELECT :thread_id, :holder, :now {rows} ON CONFLICT (thread_id) "
        "DO UPDATE SET holder = excluded.holder, acquired_at = excluded.acquired_at"
    )


def _holder_params(thread_id: str) -> dict[str, str]:
    return {"thread_id": thread_id, "holder": holder_name(), "now": datetime.now(UTC).isoformat()}


async def _record_holder(db: Database, thread_id: str) -> None:
    await db.execute(_name_holder("WHERE true"), _holder_params(thread_id))


async def _busy(db: Database, thread_id: str) -> ThreadBusy:
    row = await db.fetchone(
        "SELECT holder, acquired_at FROM waypoint_thread_holders WHERE thread_id = :thread_id",
        {"thread_id": thread_id},
    )
    held_by = f"{row['holder']} since {row['acquired_at']}" if row else "another process"
    return ThreadBusy(
        f"thread {thread_id} is busy: held by {held_by}. Nothing was written; "
        f"try again when it finishes (`waypoint status {thread_id}`)."
    )


@asynccontextmanager
async def _postgres_lock(db: PostgresDatabase, thread_id: str) -> AsyncIterator[None]:
    key = _lock_key(thread_id)
    if key in db.held_locks:  # session locks stack within a session: refuse here instead
        raise await _busy(db, thread_id)
    db.held_locks.add(key)  # before any await, so a second task of this process sees it
    locked = False
    conn = None
    try:
        conn = await db.session()
        # one round trip: try the lock and, only if it was taken, name the holder
        cursor = await conn.execute(
            to_psycopg(
                "WITH attempt AS (SELECT pg_try_advisory_lock(hashtextextended(:key, 0)) "
                f"AS locked), named AS ({_name_holder('FROM attempt WHERE locked')}) "
                "SELECT locked FROM attempt"
            ),
            {"key": key, **_holder_params(thread_id)},
        )
        row = await cursor.fetchone()
        locked = bool(row and row["locked"])
        if not locked:
            raise await _busy(db, thread_id)
        yield
    finally:
        db.held_locks.discard(key)
        if locked and conn is not None:
            # if the connection is gone, its session lock went with it
            with contextlib.suppress(psycopg.Error):
                await conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))


@asynccontextmanager
async def _file_lock(db: Database, sqlite_path: Path, thread_id: str) -> AsyncIterator[None]:
    folder = sqlite_path.parent / f"{sqlite_path.name}.locks"
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(thread_id.encode()).hexdigest()[:32]
    fd = os.open(folder / f"{digest}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise await _busy(db, thread_id) from None
        await _record_holder(db, thread_id)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


@asynccontextmanager
async def hold_thread(url: DatabaseURL, db: Database, thread_id: str) -> AsyncIterator[None]:
    """Hold the thread's writer lock for the duration of the block.

    Raises:
        ThreadBusy: another live process holds it.
    """
    if isinstance(db, PostgresDatabase):
        async with _postgres_lock(db, thread_id):
            yield
    else:
        assert url.sqlite_path is not None
        async with _file_lock(db, url.sqlite_path, thread_id):
            yield

"""One writer per thread: a lock that the database (or the OS) releases when the holder dies.

Postgres: a session-level advisory lock on the process's session (one connection that holds
the locks of every thread this process runs); if the process dies, its connection closes and the
locks go with it. SQLite: an exclusive `flock` on a lock file beside the database (named after
its real path, so a symlink or `..` reaches the same lock), which the kernel releases when the
process dies. Either way the second writer fails at once with `ThreadBusy` (exit 5) naming the
holder, before it writes anything.

A lock can also be lost while its holder runs on (its Postgres session terminated), so each
acquisition gets a fencing token that the database checks on every checkpoint and side effect
of the run (`waypoint.persistence.writer_fence`): the old holder stops at its next write.
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

from waypoint.errors import ThreadBusy, ThreadTakenOver
from waypoint.persistence.sql import Database, PostgresDatabase, to_psycopg
from waypoint.persistence.urls import DatabaseURL
from waypoint.persistence.writer_fence import (
    hold_fence,
    is_fence_refusal,
    release_fence,
    taken_over,
)

LOCK_FOLDER_MODE = 0o700
"""SQLite: the `<db>.locks/` folder is its owner's alone, whatever the umask."""
LOCK_FILE_MODE = 0o600
"""SQLite: each lock file likewise."""


def holder_name() -> str:
    """This process, as other processes will see it: `host:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _lock_key(thread_id: str) -> str:
    return f"waypoint-thread:{thread_id}"


def _name_holder(rows: str) -> str:
    """SQL naming this process the thread's holder, for each row of `rows` (a FROM/WHERE tail).

    The same statement bumps the thread's fence and returns it: the new holder's token.
    SQLite needs a WHERE in an `INSERT ... SELECT` that ends in an upsert.
    """
    return (
        "INSERT INTO waypoint_thread_holders (thread_id, holder, acquired_at, fence) "
        f"SELECT :thread_id, :holder, :now, 1 {rows} ON CONFLICT (thread_id) "
        "DO UPDATE SET holder = excluded.holder, acquired_at = excluded.acquired_at, "
        "fence = waypoint_thread_holders.fence + 1 RETURNING fence"
    )


def _holder_params(thread_id: str) -> dict[str, str]:
    return {"thread_id": thread_id, "holder": holder_name(), "now": datetime.now(UTC).isoformat()}


async def _record_holder(db: Database, thread_id: str) -> int:
    """Name this process the holder; return its fencing token."""
    row = await db.fetchone(_name_holder("WHERE true"), _holder_params(thread_id))
    assert row is not None  # an upsert always returns its row
    return int(row["fence"])


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


_POSTGRES_ACQUIRE = to_psycopg(
    # One round trip: try the lock and, only if it was taken, name the holder and bump the
    # fence. The session commits with `synchronous_commit = off`; this statement turns it on
    # for its own transaction, so a token once handed out is on disk and never handed out again
    # after a database crash.
    "WITH durable AS (SELECT set_config('synchronous_commit', 'on', true)), "
    "attempt AS (SELECT pg_try_advisory_lock(hashtextextended(:key, 0)) AS locked "
    f"FROM durable), named AS ({_name_holder('FROM attempt WHERE locked')}) "
    "SELECT locked, (SELECT fence FROM named) AS fence FROM attempt"
)


@asynccontextmanager
async def _postgres_lock(db: PostgresDatabase, thread_id: str) -> AsyncIterator[int]:
    key = _lock_key(thread_id)
    if key in db.held_locks:  # session locks stack within a session: refuse here instead
        raise await _busy(db, thread_id)
    db.held_locks.add(key)  # before any await, so a second task of this process sees it
    locked = False
    conn = None
    try:
        conn = await db.session()
        cursor = await conn.execute(_POSTGRES_ACQUIRE, {"key": key, **_holder_params(thread_id)})
        row = await cursor.fetchone()
        locked = bool(row and row["locked"])
        if not locked or row is None:
            raise await _busy(db, thread_id)
        yield int(row["fence"])
    finally:
        db.held_locks.discard(key)
        if locked and conn is not None:
            # if the connection is gone, its session lock went with it
            with contextlib.suppress(psycopg.Error):
                await conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))


def lock_file(sqlite_path: Path, thread_id: str) -> Path:
    """The lock file of a thread of the SQLite database at `sqlite_path`.

    It lives in `<db>.locks/` beside the database's real path: every way of naming the file
    (a symlink, `..`, a relative path) leads to the same lock.
    """
    real = Path(os.path.realpath(sqlite_path))
    digest = hashlib.sha256(thread_id.encode()).hexdigest()[:32]
    return real.parent / f"{real.name}.locks" / f"{digest}.lock"


def _private_folder(folder: Path) -> None:
    """Create `folder` (mode 0700 whatever the umask), or make an existing one 0700."""
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=LOCK_FOLDER_MODE)
    if folder.stat().st_mode & 0o777 != LOCK_FOLDER_MODE:
        os.chmod(folder, LOCK_FOLDER_MODE)


def _open_lock_file(path: Path) -> int:
    """Open (creating it 0600 whatever the umask) the lock file; returns the descriptor."""
    _private_folder(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, LOCK_FILE_MODE)
    if os.fstat(fd).st_mode & 0o777 != LOCK_FILE_MODE:
        os.fchmod(fd, LOCK_FILE_MODE)
    return fd


@asynccontextmanager
async def _file_lock(db: Database, sqlite_path: Path, thread_id: str) -> AsyncIterator[int]:
    fd = _open_lock_file(lock_file(sqlite_path, thread_id))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise await _busy(db, thread_id) from None
        yield await _record_holder(db, thread_id)
    finally:
        os.close(fd)  # closing the descriptor releases the flock


@asynccontextmanager
async def hold_thread(url: DatabaseURL, db: Database, thread_id: str) -> AsyncIterator[int]:
    """Hold the thread's writer lock for the duration of the block; yields the fencing token.

    Inside the block the token is the context's (`writer_fence.current_fence`): the runner's
    checkpoints carry it and side effects check it. A write the database refuses because
    another writer took the thread over meanwhile leaves the block as `ThreadTakenOver`.

    Raises:
        ThreadBusy: another live process holds it.
        ThreadTakenOver: the lock was lost and another writer holds the thread now.
    """
    lock = (
        _postgres_lock(db, thread_id)
        if isinstance(db, PostgresDatabase)
        else _file_lock(db, _sqlite_path(url), thread_id)
    )
    async with lock as fence:
        held = hold_fence(thread_id, fence)
        try:
            yield fence
        except ThreadTakenOver:
            raise
        except Exception as exc:
            if is_fence_refusal(exc):
                raise await taken_over(db, thread_id, fence) from exc
            raise
        finally:
            release_fence(held)


def _sqlite_path(url: DatabaseURL) -> Path:
    assert url.sqlite_path is not None
    return url.sqlite_path

"""Fencing tokens: a run that lost its thread's writer lock cannot write to the thread again.

A lock alone is not enough: the Postgres session holding a thread's advisory lock can be
terminated (an administrator, a proxy, a network cut) while its process runs on, unaware, and
a second writer then takes the thread. So each acquisition of a thread's lock
(`waypoint.persistence.thread_lock.hold_thread`) bumps the thread's `fence` counter in
`waypoint_thread_holders`, in the statement that names the holder, and the holder keeps the new
value: its token. The runner puts the token into the run config's metadata (`FENCE_KEY`), which
LangGraph copies into every checkpoint the run writes, and a trigger on the saver's `checkpoints`
table (installed by a migration, `waypoint.persistence.migrations`) refuses an insert whose token
is not the thread's current one. Side effects (`perform_once`) compare the token in their own
transaction. No check costs a round trip of its own: the trigger runs inside the insert the
saver makes anyway.

Checkpoints without a token (a LangGraph server's runs, a direct `graph.ainvoke`) are accepted
as before; `waypoint.server.fencing` keeps those linear on Postgres.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType

import psycopg

from waypoint.errors import ThreadTakenOver
from waypoint.persistence.sql import Executor

FENCE_KEY = "waypoint_fence"
"""Checkpoint metadata holding the fencing token of the run that wrote the checkpoint."""

REFUSAL = "waypoint writer fence"
"""Every refusal by the checkpoint trigger starts with this."""

_NONE_HELD: Mapping[str, int] = MappingProxyType({})
_held: ContextVar[Mapping[str, int]] = ContextVar("waypoint_held_fences", default=_NONE_HELD)


def hold_fence(thread_id: str, fence: int) -> Token[Mapping[str, int]]:
    """Remember, for this context, that it holds `thread_id` with token `fence`."""
    return _held.set({**_held.get(), thread_id: fence})


def release_fence(token: Token[Mapping[str, int]]) -> None:
    """Undo `hold_fence`."""
    _held.reset(token)


def current_fence(thread_id: str) -> int | None:
    """The token this context holds `thread_id` with (None: it does not hold the thread)."""
    return _held.get().get(thread_id)


def fence_metadata(thread_id: str) -> dict[str, int]:
    """Run-config metadata that makes the run's checkpoints carry its token (empty if none)."""
    fence = current_fence(thread_id)
    return {} if fence is None else {FENCE_KEY: fence}


def is_fence_refusal(exc: BaseException) -> bool:
    """Whether `exc` (or an exception it was raised from) is a refusal by the fence."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ThreadTakenOver) or REFUSAL in str(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def current_fence_sql(kind: str) -> str:
    """A scalar subquery: the thread's current token (parameter `:thread_id`).

    On Postgres it share-locks the holder row until the transaction ends, so a writer taking
    the thread over waits for the transaction instead of slipping in between check and commit
    (SQLite's write transactions are serialised already).
    """
    lock = " FOR SHARE" if kind == "postgres" else ""
    return f"(SELECT fence FROM waypoint_thread_holders WHERE thread_id = :thread_id{lock})"


async def taken_over(db: Executor, thread_id: str, fence: int) -> ThreadTakenOver:
    """The error for a run holding token `fence` of a thread another writer has taken over."""
    try:
        row = await db.fetchone(
            "SELECT holder, fence FROM waypoint_thread_holders WHERE thread_id = :thread_id",
            {"thread_id": thread_id},
        )
    except (psycopg.Error, sqlite3.Error):  # the error is the takeover, not this read
        row = None
    now = f"{row['holder']}, fence {fence} < {row['fence']}" if row else f"fence {fence}"
    return ThreadTakenOver(
        f"thread {thread_id} was taken over by another writer ({now}); this run stopped and "
        f"wrote nothing more; see `waypoint status {thread_id}`."
    )

"""Side effects that happen exactly once, keyed in the same database as the checkpoints.

A node that pays or sends calls `perform_once(db, key, ...)`. The effect's own rows and the key
are written in one transaction, so a node re-executed after a resume, a retry or a crash finds
the key and gets the original result back instead of acting twice. In a run that holds its
thread's writer lock, the same transaction checks the run's fencing token
(`waypoint.persistence.writer_fence`): a run whose thread another writer took over acts no more.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from langgraph.config import get_config

from waypoint.faults import pause_point
from waypoint.guards import current_guard
from waypoint.persistence.sql import Database, Executor
from waypoint.persistence.writer_fence import current_fence, current_fence_sql, taken_over

EffectResult = dict[str, Any]


class EffectRefused(RuntimeError):
    """An effect's preconditions do not hold, so it did not run.

    A `RuntimeError`, so LangGraph's retry policy does not retry it: the node's failure ladder
    hands it to a human (or halts) with the reason.
    """


def effect_key(kind: str, *identity: str) -> str:
    """The idempotency key of an effect: its kind and what identifies it, never ambiguous.

    Parts are encoded as a JSON array, so no id can make two different effects share a key
    (joining with a separator let a thread id containing `:payment:` collide with another
    thread's ticket).
    """
    return json.dumps([kind, *identity], separators=(",", ":"), ensure_ascii=False)


async def perform_once(
    db: Database,
    *,
    key: str,
    thread_id: str,
    kind: str,
    apply: Callable[[Executor], Awaitable[EffectResult]],
    legacy_key: str | None = None,
) -> tuple[EffectResult, bool]:
    """Run `apply` once per `key`; return its result and whether it ran now (False: replayed).

    `legacy_key` is the key an older release gave the same effect: it counts as done too, but
    only when that key was recorded by this same thread (old keys could collide across threads).

    Raises:
        GuardHalt: the run's guard does not allow this kind of side effect.
        ThreadTakenOver: this run's thread was taken over by another writer (its fencing
            token is stale); nothing was done.
    """
    guard = current_guard()
    if guard is not None:
        node = str(get_config().get("metadata", {}).get("langgraph_node", "?"))
        guard.allow_side_effect(kind, node)
    fence = current_fence(thread_id)
    async with db.transaction(lock_key=f"effect:{key}") as tx:
        row = await tx.fetchone(
            "SELECT (SELECT result FROM waypoint_side_effects WHERE effect_key = :key "
            "OR (effect_key = :legacy AND thread_id = :thread_id) LIMIT 1) AS result"
            + ("" if fence is None else f", {current_fence_sql(tx.kind)} AS fence"),
            {"key": key, "legacy": legacy_key, "thread_id": thread_id},
        )
        if fence is not None and (row is None or row["fence"] != fence):
            raise await taken_over(tx, thread_id, fence)
        if row is not None and row["result"] is not None:
            return dict(json.loads(row["result"])), False
        result = await apply(tx)
        pause_point(f"effect:{kind}:before_commit")
        await tx.execute(
            "INSERT INTO waypoint_side_effects (effect_key, thread_id, kind, result, created_at) "
            "VALUES (:key, :thread_id, :kind, :result, :created_at)",
            {
                "key": key,
                "thread_id": thread_id,
                "kind": kind,
                "result": json.dumps(result, sort_keys=True),
                "created_at": datetime.now(UTC).isoformat(),
            },
        )
    pause_point(f"effect:{kind}:after_commit")
    return result, True

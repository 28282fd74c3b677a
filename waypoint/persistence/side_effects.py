"""Side effects that happen exactly once, keyed in the same database as the checkpoints.

A node that pays or sends calls `perform_once(db, key, ...)`. The effect's own rows and the key
are written in one transaction, so a node re-executed after a resume, a retry or a crash finds
the key and gets the original result back instead of acting twice.
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

EffectResult = dict[str, Any]


async def perform_once(
    db: Database,
    *,
    key: str,
    thread_id: str,
    kind: str,
    apply: Callable[[Executor], Awaitable[EffectResult]],
) -> tuple[EffectResult, bool]:
    """Run `apply` once per `key`; return its result and whether it ran now (False: replayed).

    Raises:
        GuardHalt: the run's guard does not allow this kind of side effect.
    """
    guard = current_guard()
    if guard is not None:
        node = str(get_config().get("metadata", {}).get("langgraph_node", "?"))
        guard.allow_side_effect(kind, node)
    async with db.transaction(lock_key=f"effect:{key}") as tx:
        row = await tx.fetchone(
            "SELECT result FROM waypoint_side_effects WHERE effect_key = :key", {"key": key}
        )
        if row is not None:
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

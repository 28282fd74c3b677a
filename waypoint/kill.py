"""The kill switch: a request in the database that running threads see before their next node."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from waypoint.persistence.sql import Database, Statement


async def request_kill(db: Database, thread_id: str, reason: str, by: str) -> None:
    """Ask `thread_id` to halt before its next node (replaces an earlier open request)."""
    params = {
        "thread_id": thread_id,
        "reason": reason,
        "by": by,
        "now": datetime.now(UTC).isoformat(),
    }
    async with db.transaction(lock_key=f"kill:{thread_id}") as tx:
        await tx.execute("DELETE FROM waypoint_kills WHERE thread_id = :thread_id", params)
        await tx.execute(
            "INSERT INTO waypoint_kills (thread_id, reason, requested_by, requested_at) "
            "VALUES (:thread_id, :reason, :by, :now)",
            params,
        )


def pending_kill_query(thread_id: str) -> Statement:
    """The query for the open kill request of a thread (to batch with other statements)."""
    return (
        "SELECT reason, requested_by, requested_at FROM waypoint_kills "
        "WHERE thread_id = :thread_id AND consumed_at IS NULL",
        {"thread_id": thread_id},
    )


async def consume_kill(db: Database, thread_id: str) -> None:
    """Close the open request (an override resumed the thread)."""
    await db.execute(
        "UPDATE waypoint_kills SET consumed_at = :now WHERE thread_id = :thread_id "
        "AND consumed_at IS NULL",
        {"thread_id": thread_id, "now": datetime.now(UTC).isoformat()},
    )


async def record_override(db: Database, thread_id: str, halt: dict[str, Any], reason: str) -> None:
    """Record who overrode what and why, and close any kill request.

    `halt` is what was overridden: a halt, or a protected update (`{"kind":
    "protected_update", "fields": [...]}`); `waypoint audit` lists it.
    """
    import getpass
    import json
    import os
    import uuid

    who = os.environ.get("WAYPOINT_ACTOR") or getpass.getuser()
    await db.execute(
        "INSERT INTO waypoint_overrides (override_id, thread_id, halt, reason, actor, at) "
        "VALUES (:id, :thread_id, :halt, :reason, :actor, :at)",
        {
            "id": uuid.uuid4().hex,
            "thread_id": thread_id,
            "halt": json.dumps(halt, default=str),
            "reason": reason,
            "actor": who,
            "at": datetime.now(UTC).isoformat(),
        },
    )
    await consume_kill(db, thread_id)

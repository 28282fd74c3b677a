"""The kill switch: a request in the database that threads see before their next node.

Three scopes. A thread kill (`waypoint_kills`) halts one thread before its next node and stays
until an override resumes it. A graph kill or a global kill (`waypoint_kill_scopes`) also
writes a thread kill for every thread of its scope that is running, waiting for a human or
stopped half way (so a waiting thread's approval runs nothing), and, until `unkill` lifts it,
refuses new runs and halts any thread of its scope before its next node (a run already queued
on a server, a thread resumed later). Lifting a scope does not resume the threads it halted:
each needs `resume --override`, recorded.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from waypoint.errors import Halted
from waypoint.persistence.sql import Database, Executor, Row, Statement

ALL = "all"
"""The scope of a global kill (a graph kill's scope is `graph:NAME`)."""

REACHED_STATUSES = ("running", "waiting", "incomplete")
"""Thread statuses a graph or global kill reaches (the rest have ended or are halted)."""


def graph_scope(graph: str) -> str:
    """The scope name of a graph kill."""
    return f"graph:{graph}"


@dataclass
class ScopeKill:
    """What a graph or global kill reached: thread ids by the status they had."""

    scope: str
    reason: str
    requested_by: str
    reached: dict[str, list[str]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """How many threads it reached in each status (every reached status, 0 included)."""
        return {status: len(self.reached.get(status, [])) for status in REACHED_STATUSES}

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready record (for `--json`)."""
        return {
            "scope": self.scope,
            "reason": self.reason,
            "requested_by": self.requested_by,
            "reached": self.counts(),
            "threads": self.reached,
        }


async def _kill_thread(tx: Executor, thread_id: str, reason: str, by: str, now: str) -> None:
    params = {"thread_id": thread_id, "reason": reason, "by": by, "now": now}
    await tx.execute("DELETE FROM waypoint_kills WHERE thread_id = :thread_id", params)
    await tx.execute(
        "INSERT INTO waypoint_kills (thread_id, reason, requested_by, requested_at) "
        "VALUES (:thread_id, :reason, :by, :now)",
        params,
    )


async def request_kill(db: Database, thread_id: str, reason: str, by: str) -> None:
    """Ask `thread_id` to halt before its next node (replaces an earlier open request)."""
    async with db.transaction(lock_key=f"kill:{thread_id}") as tx:
        await _kill_thread(tx, thread_id, reason, by, datetime.now(UTC).isoformat())


async def request_scope_kill(db: Database, graph: str | None, reason: str, by: str) -> ScopeKill:
    """Kill a graph (`graph`) or everything (`None`): its live threads, and new runs until lifted.

    A scope already killed keeps its first request (and its reach); the threads are reached
    again, so a thread started since is halted too.
    """
    import json
    import uuid

    scope = ALL if graph is None else graph_scope(graph)
    now = datetime.now(UTC).isoformat()
    statuses = ", ".join(f"'{status}'" for status in REACHED_STATUSES)
    where = "" if graph is None else " AND graph = :graph"
    async with db.transaction(lock_key=f"kill-scope:{scope}") as tx:
        rows = await tx.fetchall(
            f"SELECT thread_id, status FROM waypoint_threads WHERE status IN ({statuses})"
            f"{where} ORDER BY thread_id",
            {"graph": graph},
        )
        reached: dict[str, list[str]] = {}
        for row in rows:
            reached.setdefault(str(row["status"]), []).append(str(row["thread_id"]))
            await _kill_thread(tx, str(row["thread_id"]), reason, by, now)
        active = await tx.fetchone(
            "SELECT kill_id FROM waypoint_kill_scopes WHERE scope = :scope AND lifted_at IS NULL",
            {"scope": scope},
        )
        if active is None:
            await tx.execute(
                "INSERT INTO waypoint_kill_scopes (kill_id, scope, reason, requested_by, "
                "requested_at, reached) VALUES (:id, :scope, :reason, :by, :now, :reached)",
                {
                    "id": uuid.uuid4().hex,
                    "scope": scope,
                    "reason": reason,
                    "by": by,
                    "now": now,
                    "reached": json.dumps(dict(Counter({k: len(v) for k, v in reached.items()}))),
                },
            )
    return ScopeKill(scope=scope, reason=reason, requested_by=by, reached=reached)


async def lift_scope_kill(db: Database, graph: str | None, reason: str, by: str) -> Row | None:
    """Lift a graph or global kill; the lifted kill, or None when the scope was not killed.

    The threads it halted stay halted (each continues with `resume --override`).
    """
    scope = ALL if graph is None else graph_scope(graph)
    async with db.transaction(lock_key=f"kill-scope:{scope}") as tx:
        active = await tx.fetchone(
            "SELECT kill_id, scope, reason, requested_by, requested_at FROM waypoint_kill_scopes "
            "WHERE scope = :scope AND lifted_at IS NULL",
            {"scope": scope},
        )
        if active is None:
            return None
        await tx.execute(
            "UPDATE waypoint_kill_scopes SET lifted_at = :now, lifted_by = :by, "
            "lift_reason = :reason WHERE kill_id = :id",
            {"now": datetime.now(UTC).isoformat(), "by": by, "reason": reason,
             "id": active["kill_id"]},
        )  # fmt: skip
    return dict(active)


async def refuse_if_killed(db: Executor, graph: str) -> None:
    """Refuse a new run of a killed graph (or of anything, under a global kill).

    Raises:
        Halted: naming the kill, who gave it, when, why, and how to lift it.
    """
    row = await db.fetchone(
        "SELECT scope, reason, requested_by, requested_at FROM waypoint_kill_scopes "
        "WHERE lifted_at IS NULL AND scope IN (:all, :scope) ORDER BY scope LIMIT 1",
        {"all": ALL, "scope": graph_scope(graph)},
    )
    if row is None:
        return
    lift = "--all" if row["scope"] == ALL else f"--graph {graph}"
    raise Halted(
        f"kill: {'every graph' if row['scope'] == ALL else 'graph ' + graph} is killed "
        f"(by {row['requested_by']} at {row['requested_at']}: {row['reason']}); no new run "
        f"starts until `waypoint unkill {lift} --reason TEXT` lifts it"
    )


def pending_kill_query(thread_id: str, graph: str | None = None) -> Statement:
    """The query for the kill that applies to a thread now (to batch with other statements).

    The thread's own open request first, then a kill of its graph, then a global kill.
    """
    return (
        "SELECT reason, requested_by, requested_at FROM waypoint_kills "
        "WHERE thread_id = :thread_id AND consumed_at IS NULL "
        "UNION ALL SELECT reason, requested_by, requested_at FROM waypoint_kill_scopes "
        "WHERE lifted_at IS NULL AND scope IN (:all, :graph_scope)",
        {"thread_id": thread_id, "all": ALL, "graph_scope": graph_scope(graph or "")},
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

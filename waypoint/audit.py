"""Read the ledger: the story of one thread, and workflow KPIs (SQL on both backends)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from waypoint.errors import BadInput
from waypoint.input_checks import check_id, check_thread_id
from waypoint.persistence.stores import open_stores
from waypoint.persistence.thread_lock import holder_name


async def thread_audit(thread_id: str, *, db_url: str | None = None) -> dict[str, Any]:
    """Every ledger row of a thread in order, with kills and overrides.

    Also its external effects (outbox rows) and the compensations asked for it (who, why).
    """
    check_thread_id(thread_id)
    async with open_stores(db_url) as stores:
        thread = await stores.db.fetchone(
            "SELECT thread_id, graph, status FROM waypoint_threads WHERE thread_id = :t",
            {"t": thread_id},
        )
        if thread is None:
            raise BadInput(f"thread: no thread {thread_id!r}", field="thread")
        rows = await stores.db.fetchall(
            "SELECT run_id, step, node, attempt, status, checkpoint_id, capability, provider, "
            "provider_version, routing_reason, summary, started_at, ended_at, latency_ms, "
            "tokens, cost_usd, error_class, error_message, gate, gate_passed, actor, "
            "human_decision, task_id, task_path, checkpoint_ns FROM waypoint_ledger "
            "WHERE thread_id = :t ORDER BY started_at",
            {"t": thread_id},
        )
        for row in rows:
            row["human_decision"] = json.loads(row["human_decision"] or "null")
            row["gate_passed"] = None if row["gate_passed"] is None else bool(row["gate_passed"])
        kills = await stores.db.fetchall(
            "SELECT reason, requested_by, requested_at, consumed_at FROM waypoint_kills "
            "WHERE thread_id = :t",
            {"t": thread_id},
        )
        overrides = await stores.db.fetchall(
            "SELECT halt, reason, actor, at FROM waypoint_overrides WHERE thread_id = :t "
            "ORDER BY at",
            {"t": thread_id},
        )
        effects = await stores.db.fetchall(
            "SELECT effect_key, kind, provider, path, status, attempts, answer_status, "
            "compensates, actor, reason, created_at, updated_at FROM waypoint_outbox "
            "WHERE thread_id = :t ORDER BY seq",
            {"t": thread_id},
        )
        compensations = await stores.db.fetchall(
            "SELECT request_id, actor, reason, effects, requested_at FROM "
            "waypoint_compensations WHERE thread_id = :t ORDER BY requested_at",
            {"t": thread_id},
        )
        for request in compensations:
            request["effects"] = json.loads(request["effects"])
        return {
            **thread,
            "invocations": rows,
            "kills": kills,
            "overrides": overrides,
            "effects": effects,
            "compensations": compensations,
        }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _seconds(start: Any, end: Any) -> float:
    return (datetime.fromisoformat(str(end)) - datetime.fromisoformat(str(start))).total_seconds()


def _spread(values: list[float]) -> dict[str, Any]:
    """Count, p50 and p95 of a list of durations (seconds); None when empty."""
    if not values:
        return {"count": 0, "p50": None, "p95": None}
    return {
        "count": len(values),
        "p50": round(_percentile(values, 0.5), 3),
        "p95": round(_percentile(values, 0.95), 3),
    }


async def workflow_kpis(
    *,
    db_url: str | None = None,
    graph: str | None = None,
    since: timedelta | None = None,
    by_day: bool = False,
) -> dict[str, Any]:
    """Workflow KPIs from the ledger, the handoffs and the thread index.

    Rates over threads: completion, escalation (handed to a human at least once), intervention
    (a human answered), halt, failure. Handoffs by kind (`waypoint.handoffs`: failure ladder,
    each HITL action, plain questions); human wait and time to resolution (p50/p95, seconds);
    cost per completed task; p50/p95 latency per node; failure clusters (node by error class,
    most frequent first); with `by_day`, the same counts per day the threads started.
    """
    if graph is not None:
        check_id(graph, "graph", what="graph name")
    params: dict[str, Any] = {"graph": graph}
    where = ["(CAST(:graph AS TEXT) IS NULL OR t.graph = :graph)"]
    if since is not None:
        params["since"] = (datetime.now(UTC) - since).isoformat()
        where.append("t.created_at >= :since")
    scope = " AND ".join(where)
    async with open_stores(db_url) as stores:
        db = stores.db
        threads_rows = await db.fetchall(
            "SELECT t.thread_id, t.status, t.created_at, t.updated_at "
            f"FROM waypoint_threads t WHERE {scope}",
            params,
        )
        handoffs = await db.fetchall(
            "SELECT h.thread_id, h.kind, h.asked_at, h.answered_at FROM waypoint_handoffs h "
            f"JOIN waypoint_threads t ON t.thread_id = h.thread_id WHERE {scope}",
            params,
        )
        costs = await db.fetchall(
            "SELECT l.cost_usd FROM waypoint_ledger l JOIN waypoint_threads t "
            f"ON t.thread_id = l.thread_id WHERE t.status = 'completed' AND {scope}",
            params,
        )
        latencies = await db.fetchall(
            "SELECT l.node, l.latency_ms FROM waypoint_ledger l JOIN waypoint_threads t "
            f"ON t.thread_id = l.thread_id WHERE l.latency_ms IS NOT NULL AND {scope}",
            params,
        )
        clusters = await db.fetchall(
            "SELECT l.node, l.error_class, count(*) AS occurrences FROM waypoint_ledger l "
            "JOIN waypoint_threads t ON t.thread_id = l.thread_id "
            f"WHERE l.error_class IS NOT NULL AND {scope} "
            "GROUP BY l.node, l.error_class ORDER BY occurrences DESC, l.node",
            params,
        )
    statuses = {str(r["thread_id"]): str(r["status"]) for r in threads_rows}
    threads = len(statuses)

    def count(status: str) -> int:
        return sum(1 for value in statuses.values() if value == status)

    def rate(n: int) -> float | None:
        return round(n / threads, 4) if threads else None

    completed = count("completed")
    by_kind: dict[str, dict[str, Any]] = {}
    escalated: set[str] = set()
    answered: set[str] = set()
    waits: list[float] = []
    for h in handoffs:
        thread_id, kind = str(h["thread_id"]), str(h["kind"])
        entry = by_kind.setdefault(kind, {"handoffs": 0, "threads": set()})
        entry["handoffs"] += 1
        entry["threads"].add(thread_id)
        escalated.add(thread_id)
        if h["answered_at"] is not None:
            answered.add(thread_id)
            waits.append(_seconds(h["asked_at"], h["answered_at"]))
    resolution = [
        _seconds(r["created_at"], r["updated_at"])
        for r in threads_rows
        if r["status"] == "completed"
    ]
    by_node: dict[str, list[float]] = {}
    for row in latencies:
        by_node.setdefault(str(row["node"]), []).append(float(row["latency_ms"]))
    spend = sum((Decimal(str(row["cost_usd"])) for row in costs), Decimal("0"))
    kpis: dict[str, Any] = {
        "graph": graph,
        "threads": threads,
        "completion_rate": rate(completed),
        "escalation_rate": rate(len(escalated)),
        "intervention_rate": rate(len(answered)),
        "halt_rate": rate(count("halted")),
        "failure_rate": rate(count("failed")),
        "waiting": count("waiting"),
        "handoffs_by_kind": {
            kind: {"handoffs": entry["handoffs"], "threads": len(entry["threads"])}
            for kind, entry in sorted(by_kind.items())
        },
        "human_wait_s": _spread(waits),
        "time_to_resolution_s": _spread(resolution),
        "cost_per_completed_usd": str(spend / completed) if completed else None,
        "latency_ms_by_node": {
            node: {
                "count": len(values),
                "p50": round(_percentile(values, 0.5), 3),
                "p95": round(_percentile(values, 0.95), 3),
            }
            for node, values in sorted(by_node.items())
        },
        "failure_clusters": [
            {"node": r["node"], "error_class": r["error_class"], "count": int(r["occurrences"])}
            for r in clusters
        ],
    }
    if by_day:
        days: dict[str, dict[str, int]] = {}
        for r in threads_rows:
            day = days.setdefault(
                str(r["created_at"])[:10],
                {"threads": 0, "completed": 0, "halted": 0, "failed": 0, "escalated": 0},
            )
            day["threads"] += 1
            if r["status"] in ("completed", "halted", "failed"):
                day[str(r["status"])] += 1
            if str(r["thread_id"]) in escalated:
                day["escalated"] += 1
        kpis["by_day"] = [{"day": day, **days[day]} for day in sorted(days)]
    return kpis


def requester() -> str:
    """Who asks for a kill: `WAYPOINT_ACTOR`, else this process."""
    import os

    return os.environ.get("WAYPOINT_ACTOR") or holder_name()

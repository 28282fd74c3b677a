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
    """Every ledger row of a thread in order, with kills and overrides."""
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
        return {**thread, "invocations": rows, "kills": kills, "overrides": overrides}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def workflow_kpis(
    *, db_url: str | None = None, graph: str | None = None, since: timedelta | None = None
) -> dict[str, Any]:
    """Workflow KPIs from the ledger and the thread index.

    Completion, intervention, escalation and halt rates; cost per completed task; p50/p95
    latency per node; failure clusters (node by error class, most frequent first).
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
        totals = await db.fetchone(
            "SELECT count(*) AS threads, "
            "sum(CASE WHEN t.status = 'completed' THEN 1 ELSE 0 END) AS completed, "
            "sum(CASE WHEN t.status = 'halted' THEN 1 ELSE 0 END) AS halted, "
            "sum(CASE WHEN t.status = 'failed' THEN 1 ELSE 0 END) AS failed, "
            "sum(CASE WHEN t.status = 'waiting' THEN 1 ELSE 0 END) AS waiting "
            f"FROM waypoint_threads t WHERE {scope}",
            params,
        )
        assert totals is not None
        humans = await db.fetchone(
            "SELECT count(DISTINCT l.thread_id) AS asked, "
            "count(DISTINCT CASE WHEN l.node LIKE 'escalat%' THEN l.thread_id END) AS escalated "
            "FROM waypoint_ledger l JOIN waypoint_threads t ON t.thread_id = l.thread_id "
            f"WHERE l.status = 'interrupted' AND {scope}",
            params,
        )
        assert humans is not None
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
    threads = int(totals["threads"] or 0)
    completed = int(totals["completed"] or 0)

    def rate(n: Any) -> float | None:
        return round(int(n or 0) / threads, 4) if threads else None

    by_node: dict[str, list[float]] = {}
    for row in latencies:
        by_node.setdefault(str(row["node"]), []).append(float(row["latency_ms"]))
    spend = sum((Decimal(str(row["cost_usd"])) for row in costs), Decimal("0"))
    return {
        "graph": graph,
        "threads": threads,
        "completion_rate": rate(completed),
        "intervention_rate": rate(humans["asked"]),
        "escalation_rate": rate(humans["escalated"]),
        "halt_rate": rate(totals["halted"]),
        "failure_rate": rate(totals["failed"]),
        "waiting": int(totals["waiting"] or 0),
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


def requester() -> str:
    """Who asks for a kill: `WAYPOINT_ACTOR`, else this process."""
    import os

    return os.environ.get("WAYPOINT_ACTOR") or holder_name()

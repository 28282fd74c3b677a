"""A thread's timeline, and the KPIs, as self-contained HTML pages: no script, no network.

`waypoint report THREAD --html out.html` writes the timeline: the graph drawn as inline SVG
with the path the thread took highlighted, then every checkpoint in order, forks and replays
as branches (node, gate verdicts and reasons, the route taken next, questions asked and
whether they were answered), the questions to humans (who answered, under which role, when,
how long they waited), the side effects performed or refused, kills and overrides, and the
ledger's rows (provider, route, latency, tokens, cost, errors). `waypoint report --kpis --html`
writes the KPIs with charts. Rendered by Jinja2 from `waypoint/templates/`, every value
escaped; fields the workflow marks sensitive never reach the ledger, so never the page.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from itertools import pairwise
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from waypoint.audit import thread_audit, workflow_kpis
from waypoint.persistence.sql import Row
from waypoint.persistence.stores import open_stores
from waypoint.timetravel import CheckpointRow, thread_history

_BOX_W, _BOX_H, _GAP_X, _GAP_Y = 170, 34, 30, 36


@dataclass
class _Layout:
    """Where each node of the picture sits."""

    positions: dict[str, tuple[int, int]]
    width: int
    height: int


def _layers(nodes: Sequence[str], edges: Iterable[tuple[str, str]]) -> _Layout:
    """Nodes placed in rows by their longest distance from `__start__` (back edges ignored)."""
    successors: dict[str, list[str]] = {node: [] for node in nodes}
    for source, target in edges:
        successors.setdefault(source, []).append(target)
    depth: dict[str, int] = {"__start__": 0}
    order = ["__start__"]
    seen = {"__start__"}
    while order:  # breadth first: an edge back to a node already placed does not push it down
        node = order.pop(0)
        for target in successors.get(node, []):
            if target not in seen:
                seen.add(target)
                depth[target] = depth[node] + 1
                order.append(target)
    for node in nodes:
        depth.setdefault(node, max(depth.values(), default=0) + 1)
    rows: dict[int, list[str]] = {}
    for node in nodes:
        rows.setdefault(depth[node], []).append(node)
    widest = max(len(row) for row in rows.values())
    width = widest * (_BOX_W + _GAP_X) + _GAP_X
    positions = {}
    for level, row in rows.items():
        offset = (width - len(row) * (_BOX_W + _GAP_X) + _GAP_X) // 2
        for index, node in enumerate(row):
            positions[node] = (
                offset + index * (_BOX_W + _GAP_X),
                _GAP_Y + level * (_BOX_H + _GAP_Y),
            )
    height = (max(rows) + 1) * (_BOX_H + _GAP_Y) + _GAP_Y
    return _Layout(positions, width, height)


def graph_picture(
    nodes: Sequence[str], edges: Sequence[tuple[str, str, bool]], path: Sequence[str]
) -> dict[str, Any]:
    """Where the template draws each node and edge; nodes on the path and edges taken marked."""
    layout = _layers(nodes, [(s, t) for s, t, _ in edges])
    visited = set(path)
    taken = set(pairwise(path))
    lines = []
    for source, target, conditional in edges:
        if source not in layout.positions or target not in layout.positions:
            continue
        (x1, y1), (x2, y2) = layout.positions[source], layout.positions[target]
        lines.append(
            {
                "x1": x1 + _BOX_W // 2,
                "y1": y1 + _BOX_H,
                "x2": x2 + _BOX_W // 2,
                "y2": y2,
                "taken": (source, target) in taken,
                "conditional": conditional,
            }
        )
    boxes = [
        {"name": node, "x": x, "y": y, "visited": node in visited}
        for node in nodes
        for x, y in [layout.positions[node]]
    ]
    return {
        "width": layout.width,
        "height": layout.height,
        "box_w": _BOX_W,
        "box_h": _BOX_H,
        "edges": lines,
        "nodes": boxes,
    }


@cache
def _templates() -> Environment:
    """The page templates (`waypoint/templates`), every value escaped."""
    return Environment(
        loader=PackageLoader("waypoint", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _branches(rows: Sequence[CheckpointRow]) -> list[dict[str, Any]]:
    """Each branch of the thread (a fork, an update, a replay's new line), oldest first."""
    by_branch: dict[str, list[CheckpointRow]] = {}
    for row in rows:
        by_branch.setdefault(row.branch, []).append(row)
    return [
        {
            "id": start.checkpoint_id,
            "parent": start.parent_id,
            "source": start.source,
            "count": len(by_branch.get(start.checkpoint_id, [])),
            "current": any(r.on_head_line for r in by_branch.get(start.checkpoint_id, [])),
        }
        for start in rows
        if start.branch_start
    ]


def _humans(handoffs: Sequence[Row], invocations: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each question asked, with the answer the ledger recorded (who, as what, what)."""
    answers: dict[str, list[dict[str, Any]]] = {}
    for row in invocations:
        if row.get("human_decision"):
            answers.setdefault(str(row["node"]), []).append(row["human_decision"])
    humans = []
    for h in handoffs:
        given = answers.get(str(h["node"]), [])
        answer = given.pop(0) if h["answered_at"] and given else {}
        humans.append(
            {
                "node": h["node"],
                "kind": h["kind"],
                "asked_at": h["asked_at"],
                "answered_at": h["answered_at"],
                "answered_by": h["answered_by"] or answer.get("answered_by"),
                "answered_as": answer.get("answered_as"),
                "decision": answer.get("decision"),
                "message": answer.get("message"),
                "waited": _waited(h["asked_at"], h["answered_at"]),
            }
        )
    return humans


def _effects(
    local: Sequence[Row], outbox: Sequence[Row], invocations: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Effects performed (local, or through the outbox with the provider's answer), and refused."""
    rows = [
        {"kind": e["kind"], "key": e["effect_key"], "outcome": "performed", "at": e["created_at"]}
        for e in local
    ]
    for e in outbox:
        status = str(e["status"])
        outcome = {"delivered": "delivered", "refused": "refused by provider"}.get(status, status)
        if e["compensates"]:
            outcome = f"{outcome} (undoes {e['compensates']})"
        if e["answer_status"]:
            outcome = f"{outcome}, HTTP {e['answer_status']}"
        rows.append(
            {"kind": e["kind"], "key": e["effect_key"], "outcome": outcome, "at": e["updated_at"]}
        )
    for r in invocations:
        if r.get("error_class") == "EffectRefused":
            rows.append(
                {
                    "kind": r["node"],
                    "key": "-",
                    "outcome": f"refused: {r.get('error_message') or ''}",
                    "at": r.get("started_at"),
                }
            )
    return sorted(rows, key=lambda e: str(e["at"] or ""))


async def thread_report_html(thread_id: str, *, db_url: str | None = None) -> str:
    """The thread's timeline page: every checkpoint in order, its branches marked."""
    from waypoint.workflows import load_workflow

    audit = await thread_audit(thread_id, db_url=db_url)
    history = await thread_history(thread_id, db_url=db_url)
    async with open_stores(db_url) as stores:
        handoffs = await stores.db.fetchall(
            "SELECT node, kind, asked_at, answered_at, answered_by FROM waypoint_handoffs "
            "WHERE thread_id = :t ORDER BY asked_at",
            {"t": thread_id},
        )
        local = await stores.db.fetchall(
            "SELECT effect_key, kind, created_at FROM waypoint_side_effects WHERE thread_id = :t "
            "ORDER BY created_at",
            {"t": thread_id},
        )
        outbox = await stores.db.fetchall(
            "SELECT effect_key, kind, status, answer_status, compensates, updated_at "
            "FROM waypoint_outbox WHERE thread_id = :t ORDER BY seq",
            {"t": thread_id},
        )
    drawable = load_workflow(str(audit["graph"])).served.get_graph()
    nodes = [node for node in drawable.nodes if not _is_error_handler(node)]
    edges = [
        (e.source, e.target, bool(e.conditional))
        for e in drawable.edges
        if not (_is_error_handler(e.source) or _is_error_handler(e.target))
    ]
    checkpoints = sorted(history.rows, key=lambda r: (r.created_at or "", r.step))
    line = [r for r in checkpoints if r.on_head_line]
    path = ["__start__"]
    for row in line:
        for writer in row.writers:
            if writer in nodes and writer != path[-1]:
                path.append(writer)
    if audit["status"] == "completed":
        path.append("__end__")
    invocations = audit["invocations"]
    control = [
        *(
            {
                "what": "kill",
                "by": k["requested_by"],
                "at": k["requested_at"],
                "reason": k["reason"],
            }
            for k in audit["kills"]
        ),
        *(
            {"what": "override", "by": o["actor"], "at": o["at"], "reason": o["reason"]}
            for o in audit["overrides"]
        ),
    ]
    return (
        _templates()
        .get_template("timeline.html.j2")
        .render(
            thread_id=thread_id,
            graph=audit["graph"],
            status=audit["status"],
            checkpoints=checkpoints,
            on_line=len(line),
            branches=_branches(checkpoints),
            picture=graph_picture(nodes, edges, path),
            path=path,
            humans=_humans(handoffs, invocations),
            effects=_effects(local, outbox, invocations),
            control=control,
            invocations=invocations,
        )
    )


async def kpi_report_html(
    *, db_url: str | None = None, graph: str | None = None, since: timedelta | None = None
) -> str:
    """The KPIs as a page with charts (rates, threads per day, handoffs, latency by node)."""
    kpis = await workflow_kpis(db_url=db_url, graph=graph, since=since, by_day=True)
    rates = [
        (name.removesuffix("_rate"), round(float(kpis[name]) * 100, 1))
        for name in (
            "completion_rate",
            "escalation_rate",
            "intervention_rate",
            "halt_rate",
            "failure_rate",
        )
        if kpis[name] is not None
    ]
    return (
        _templates()
        .get_template("kpis.html.j2")
        .render(
            kpis=kpis,
            since=str(since) if since else None,
            rates=rates,
            days=[(d["day"], d["threads"]) for d in kpis["by_day"]],
            handoffs=[(kind, v["handoffs"]) for kind, v in kpis["handoffs_by_kind"].items()],
            latency=[(node, v["p95"]) for node, v in kpis["latency_ms_by_node"].items()],
        )
    )


def _is_error_handler(node: str) -> bool:
    """LangGraph's error-handler nodes (each node's ladder): left out of the picture."""
    return node.startswith(("__error_handler__", "__default_error_handler__"))


def _waited(asked: Any, answered: Any) -> str:
    from datetime import datetime

    if not answered:
        return "-"
    seconds = (
        datetime.fromisoformat(str(answered)) - datetime.fromisoformat(str(asked))
    ).total_seconds()
    return f"{seconds:.1f}s"

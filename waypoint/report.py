"""A thread's timeline as one self-contained HTML page: no script, no network, no CDN.

`waypoint report THREAD --html out.html` writes it: the graph drawn as inline SVG with the path
the thread took highlighted, then each checkpoint in order (node, gate verdicts and reasons,
what runs next, questions asked and whether they were answered), the questions to humans (who
answered, when, how long they waited), the side effects performed, kills and overrides, and
the ledger's rows (provider, latency, tokens, cost, errors). Values are escaped; fields the
workflow marks sensitive never reach the ledger, so they never reach the page.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from itertools import pairwise
from typing import Any

from waypoint.audit import thread_audit
from waypoint.persistence.stores import open_stores
from waypoint.timetravel import CheckpointRow, thread_history

_BOX_W, _BOX_H, _GAP_X, _GAP_Y = 170, 34, 30, 36

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d1d2b;max-width:1200px}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border:1px solid #e3e3ea;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f4f3fb}.pass{color:#17733a}.fail{color:#b3261e}.muted{color:#777}
code{font-size:12px}svg text{font:12px system-ui,sans-serif}
"""


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


def graph_svg(
    nodes: Sequence[str], edges: Sequence[tuple[str, str, bool]], path: Sequence[str]
) -> str:
    """The graph as SVG: nodes on the path filled, edges taken drawn bold."""
    layout = _layers(nodes, [(s, t) for s, t, _ in edges])
    visited = set(path)
    taken = set(pairwise(path))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{layout.width}" '
        f'height="{layout.height}" role="img" aria-label="graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z" fill="#555"/></marker></defs>',
    ]
    for source, target, conditional in edges:
        if source not in layout.positions or target not in layout.positions:
            continue
        (x1, y1), (x2, y2) = layout.positions[source], layout.positions[target]
        on_path = (source, target) in taken
        dashes = ' stroke-dasharray="4 3"' if conditional else ""
        parts.append(
            f'<line class="edge{" taken" if on_path else ""}" x1="{x1 + _BOX_W // 2}" '
            f'y1="{y1 + _BOX_H}" x2="{x2 + _BOX_W // 2}" y2="{y2}" '
            f'stroke="{"#4b3bd6" if on_path else "#aaa"}" '
            f'stroke-width="{3 if on_path else 1}"{dashes} marker-end="url(#arrow)"/>'
        )
    for node in nodes:
        x, y = layout.positions[node]
        fill = "#bfb6fc" if node in visited else "#f2f0ff"
        parts.append(
            f'<g class="node{" visited" if node in visited else ""}" data-node="{escape(node)}">'
            f'<rect x="{x}" y="{y}" width="{_BOX_W}" height="{_BOX_H}" rx="6" fill="{fill}" '
            f'stroke="#6f63c9"/><text x="{x + _BOX_W // 2}" y="{y + _BOX_H // 2 + 4}" '
            f'text-anchor="middle">{escape(node)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], css: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _text(value: Any) -> str:
    return escape("" if value is None else str(value))


def _checkpoint_cells(row: CheckpointRow) -> list[str]:
    gates = "<br>".join(
        f'<span class="{"pass" if g.passed else "fail"}">{_text(g.gate)}: '
        f"{'passed' if g.passed else 'failed'}</span>"
        + (f" <span class='muted'>{_text('; '.join(g.reasons))}</span>" if g.reasons else "")
        for g in row.gates
    )
    questions = "<br>".join(
        f"{_text(i.node)}: {_text(i.action or 'question')} "
        f"({'answered' if i.answered else 'waiting'})"
        for i in row.interrupts
    )
    return [
        _text(row.step),
        _text(row.created_at),
        _text(row.source),
        _text(", ".join(row.writers) or "-"),
        gates or '<span class="muted">-</span>',
        _text(", ".join(row.next) or "(end)"),
        questions or '<span class="muted">-</span>',
        f"<code>{_text(row.checkpoint_id[:13])}</code>",
    ]


async def thread_report_html(thread_id: str, *, db_url: str | None = None) -> str:
    """The thread's timeline page (the head's line of checkpoints, oldest first)."""
    from waypoint.workflows import load_workflow

    audit = await thread_audit(thread_id, db_url=db_url)
    history = await thread_history(thread_id, db_url=db_url)
    async with open_stores(db_url) as stores:
        handoffs = await stores.db.fetchall(
            "SELECT node, kind, asked_at, answered_at, answered_by FROM waypoint_handoffs "
            "WHERE thread_id = :t ORDER BY asked_at",
            {"t": thread_id},
        )
        effects = await stores.db.fetchall(
            "SELECT kind, created_at FROM waypoint_side_effects WHERE thread_id = :t "
            "ORDER BY created_at",
            {"t": thread_id},
        )
    drawable = load_workflow(str(audit["graph"])).served.get_graph()
    nodes = [node for node in drawable.nodes if not _is_error_handler(node)]
    edges = [
        (e.source, e.target, bool(e.conditional))
        for e in drawable.edges
        if not (_is_error_handler(e.source) or _is_error_handler(e.target))
    ]
    line = sorted((r for r in history.rows if r.on_head_line), key=lambda r: r.step)
    path = ["__start__"]
    for row in line:
        for writer in row.writers:
            if writer in nodes and writer != path[-1]:
                path.append(writer)
    if audit["status"] == "completed":
        path.append("__end__")
    invocations = audit["invocations"]
    sections = [
        f"<h1>Thread {_text(thread_id)}</h1>",
        f"<p>graph <b>{_text(audit['graph'])}</b> · status <b>{_text(audit['status'])}</b> · "
        f"{len(line)} checkpoints · {len(invocations)} node invocations</p>",
        "<h2>Path taken</h2>",
        graph_svg(nodes, edges, path),
        f"<p class='muted'>{_text(' → '.join(path))}</p>",
        "<h2>Checkpoints</h2>",
        _table(
            ["step", "at", "source", "written by", "gates", "next", "questions", "checkpoint"],
            (_checkpoint_cells(row) for row in line),
            "checkpoints",
        ),
        "<h2>Humans</h2>",
        _table(
            ["node", "kind", "asked", "answered", "by", "waited"],
            (
                [
                    _text(h["node"]),
                    _text(h["kind"]),
                    _text(h["asked_at"]),
                    _text(h["answered_at"] or "waiting"),
                    _text(h["answered_by"] or "-"),
                    _text(_waited(h["asked_at"], h["answered_at"])),
                ]
                for h in handoffs
            ),
            "humans",
        ),
        "<h2>Side effects</h2>",
        _table(
            ["kind", "performed at"],
            ([_text(e["kind"]), _text(e["created_at"])] for e in effects),
            "effects",
        ),
        "<h2>Kills and overrides</h2>",
        _table(
            ["what", "by", "at", "reason"],
            [
                *(
                    ["kill", _text(k["requested_by"]), _text(k["requested_at"]), _text(k["reason"])]
                    for k in audit["kills"]
                ),
                *(
                    ["override", _text(o["actor"]), _text(o["at"]), _text(o["reason"])]
                    for o in audit["overrides"]
                ),
            ],
            "control",
        ),
        "<h2>Ledger</h2>",
        _table(
            ["node", "try", "status", "provider", "route", "ms", "tokens", "cost", "error"],
            (
                [
                    _text(r["node"]),
                    _text(r["attempt"]),
                    _text(r["status"]),
                    _text(r["provider"] or "-"),
                    _text(r["routing_reason"] or ""),
                    _text(r["latency_ms"]),
                    _text(r["tokens"]),
                    _text(r["cost_usd"]),
                    _text(r["error_message"] or ""),
                ]
                for r in invocations
            ),
            "ledger",
        ),
    ]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Waypoint · {_text(thread_id)}</title><style>{_STYLE}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>\n"
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

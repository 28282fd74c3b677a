"""Rendering for the command line: rich tables and panels, or JSON with `--json`."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from waypoint.contract import latest_verdicts, summarize
from waypoint.runner import ThreadReport
from waypoint.workflows import load_workflow

console = Console()
errors = Console(stderr=True)

STATUS_STYLE = {
    "completed": "green",
    "waiting": "yellow",
    "failed": "red",
    "incomplete": "red",
    "halted": "magenta",
}


def emit_json(data: Any) -> None:
    """Print machine-readable output."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def interrupt_summary(value: Any) -> str:
    """One readable paragraph for an HITL request."""
    if not isinstance(value, dict) or not value.get("action_requests"):
        return json.dumps(value, default=str)
    action = value["action_requests"][0]
    allowed = value["review_configs"][0]["allowed_decisions"]
    return f"{action['name']}: {action.get('description', '')}\nallowed: {', '.join(allowed)}"


def report(result: ThreadReport) -> None:
    """Show where a thread stands and what to do next (values are shown, never read as markup)."""
    style = STATUS_STYLE.get(result.status, "white")
    lines = [f"thread  [bold]{escape(result.thread_id)}[/] ({escape(result.graph)})"]
    lines.append(f"status  [{style}]{result.status}[/]")
    values = result.values
    outcome = summarize(load_workflow(result.graph).state_schema, values).outcome
    if outcome:
        lines.append(escape(f"result  {outcome}"))
    gates = [
        f"{v.gate} {'passed' if v.passed else 'failed: ' + '; '.join(v.reasons)}"
        for v in latest_verdicts(values)
    ]
    if gates:
        lines.append(escape("gates   " + " | ".join(gates)))
    if values.get("halt"):
        halt = values["halt"]
        lines.append(escape(f"halted  before {halt['node']}: {halt['kind']}: {halt['reason']}"))
        lines.append(escape(f"next    waypoint resume {result.thread_id} --override --reason TEXT"))
    if values.get("failure"):
        failure = values["failure"]
        lines.append(
            escape(f"failure {failure['node']}: {failure['error_type']}: {failure['message']}")
        )
    for pending in result.interrupts:
        summary = escape(interrupt_summary(pending.value))
        lines.append(f"waiting at [bold]{escape(pending.node)}[/]: {summary}")
        lines.append(
            escape(
                f"answer  waypoint resume {result.thread_id} --approve | --reject --reason TEXT | "
                "--edit JSON | --respond TEXT"
            )
        )
    if result.status in ("failed", "incomplete"):
        lines.append(escape(f"next    waypoint resume {result.thread_id}"))
    console.print(Panel("\n".join(lines), expand=False, border_style=style))


def threads_table(rows: list[dict[str, Any]]) -> None:
    """The thread index as a table."""
    table = Table("thread", "graph", "status", "updated", "subject", "outcome")
    for row in rows:
        summary = json.loads(row.get("summary") or "{}")  # `waypoint.thread_index.summary_of`
        style = STATUS_STYLE.get(row["status"], "white")
        table.add_row(
            escape(str(row["thread_id"])),
            escape(str(row["graph"])),
            f"[{style}]{escape(str(row['status']))}[/]",
            str(row["updated_at"])[:19],
            escape(str(summary.get("subject") or "")),
            escape(str(summary.get("outcome") or "")),
        )
    console.print(table)


def ladders_table(rows: list[dict[str, Any]]) -> None:
    """Each node's failure ladder."""
    table = Table("node", "retry", "timeout", "fallback", "escalate", "last")
    for row in rows:
        table.add_row(
            *(str(row[k]) for k in ("node", "retry", "timeout", "fallback", "escalate", "last"))
        )
    console.print(table)

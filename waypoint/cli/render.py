"""Rendering for the command line: rich tables and panels, or JSON with `--json`."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table

if TYPE_CHECKING:
    from waypoint.runner import ThreadReport

PIPE_WIDTH = 4096
"""Width of output written to a pipe or a file: long lines are kept whole, never wrapped at 80
(`COLUMNS` still sets it, as for a terminal)."""


def _stdout_width() -> int | None:
    if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit():
        return None  # rich asks the terminal, or reads COLUMNS
    return PIPE_WIDTH


console = Console(width=_stdout_width())
errors = Console(stderr=True)

MIN_COLUMN = 6
"""The narrowest a table column gets (a header shorter than this sets it instead)."""


def table(*headers: str, **options: Any) -> Table:
    """A table whose columns are never squeezed to nothing (print it with `print_table`)."""
    made = Table(**options)
    for header in headers:
        made.add_column(header, min_width=min(len(header), MIN_COLUMN), overflow="fold")
    return made


MAX_WORD = 128
"""A word longer than this (a blob, not an id) may be folded inside its cell."""


def print_table(shown: Table) -> None:
    """Print `shown` no narrower than its widest word per column, on a terminal or a pipe.

    Every column keeps at least its header's width (up to `MIN_COLUMN`) and its longest word
    (up to `MAX_WORD`): when the console is narrower than that, the table is printed wider than
    the console (a terminal then wraps the line) instead of cutting ids and words apart.
    """
    out = console
    wide = out.options.update_width(PIPE_WIDTH)
    for column in shown.columns:
        words = [Measurement.get(out, wide, cell).minimum for cell in column.cells]
        longest = min(max(words, default=0), MAX_WORD)
        header = min(len(str(column.header)), MIN_COLUMN)
        column.min_width = max(column.min_width or 0, header, longest)
        if not column.no_wrap:
            column.overflow = "fold"
    if Measurement.get(out, wide, shown).maximum <= out.width:
        out.print(shown)  # fits as it is
        return
    # rich narrows columns evenly, then widens each back to its minimum: the result can be
    # wider than asked, and the console would crop it. Print at the width rich will use.
    needed = max(out.width, Measurement.get(out, wide, shown).minimum)
    extra = shown._extra_width
    for _ in range(16):  # each try is wider; a table's widest layout always fits
        widths = shown._calculate_column_widths(out, out.options.update_width(needed - extra))
        if sum(widths) + extra <= needed:
            break
        needed = sum(widths) + extra
    else:
        needed = Measurement.get(out, wide, shown).maximum
    if needed <= out.width:
        out.print(shown)
        return
    saved = out.width
    out.width = needed
    try:
        out.print(shown)
    finally:
        out.width = saved


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


def emit_text(text: str) -> None:
    """Print text as it is: no markup, no wrapping, no styling (for files and pipes)."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def interrupt_summary(value: Any) -> str:
    """One readable paragraph for an HITL request."""
    if not isinstance(value, dict) or not value.get("action_requests"):
        return json.dumps(value, default=str)
    action = value["action_requests"][0]
    allowed = value["review_configs"][0]["allowed_decisions"]
    return f"{action['name']}: {action.get('description', '')}\nallowed: {', '.join(allowed)}"


def report(result: ThreadReport) -> None:
    """Show where a thread stands and what to do next (values are shown, never read as markup)."""
    from waypoint.contract import latest_verdicts, summarize
    from waypoint.workflows import load_workflow

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
    shown = table("thread", "graph", "status", "updated", "subject", "outcome")
    for row in rows:
        summary = json.loads(row.get("summary") or "{}")  # `waypoint.thread_index.summary_of`
        style = STATUS_STYLE.get(row["status"], "white")
        shown.add_row(
            escape(str(row["thread_id"])),
            escape(str(row["graph"])),
            f"[{style}]{escape(str(row['status']))}[/]",
            str(row["updated_at"])[:19],
            escape(str(summary.get("subject") or "")),
            escape(str(summary.get("outcome") or "")),
        )
    print_table(shown)


def ladders_table(rows: list[dict[str, Any]]) -> None:
    """Each node's failure ladder."""
    keys = ("node", "retry", "timeout", "fallback", "escalate", "last")
    shown = table(*keys)
    for row in rows:
        shown.add_row(*(escape(str(row[k])) for k in keys))
    print_table(shown)

"""Rendering of the time-travel commands (`history`, `show`, `diff`, `fork`) with rich."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from waypoint.cli.render import console, print_table
from waypoint.state_diff import flatten

if TYPE_CHECKING:  # types only: rendering does not import LangGraph
    from waypoint.checkpoint_facts import GateInfo, InterruptInfo
    from waypoint.effect_plan import PlannedEffect
    from waypoint.timetravel import (
        CheckpointRow,
        CheckpointView,
        ForkResult,
        StateDiff,
        ThreadHistory,
    )

CHANGE_STYLE = {"added": "green", "removed": "red", "changed": "yellow"}


def _short(checkpoint_id: str | None) -> str:
    """The distinctive tail of a checkpoint id (ids of one thread share their time prefix)."""
    return f"…{checkpoint_id[-8:]}" if checkpoint_id else ""


def _value(value: Any) -> str:
    return escape(value if isinstance(value, str) else json.dumps(value, default=str))


def _time(created_at: str | None) -> str:
    return (created_at or "")[:19].replace("T", " ")


def _writers(row: CheckpointRow) -> str:
    if row.source == "input":
        return "input"
    if row.source == "fork":
        return f"copy of {_short(row.parent_id)} (replay)"
    if row.source == "update":
        return f"update as {', '.join(row.writers)}" if row.writers else "update"
    return ", ".join(row.writers)


def _interrupts(interrupts: list[InterruptInfo]) -> str:
    return "; ".join(
        f"{i.node}: {i.action or 'question'} ({'answered' if i.answered else 'waiting'})"
        for i in interrupts
    )


def _gates(gates: list[GateInfo]) -> str:
    return " ".join(f"{g.gate} {'[green]✓[/]' if g.passed else '[red]✗[/]'}" for g in gates)


def _branch(row: CheckpointRow) -> str:
    if row.branch_start:
        marks = ["[cyan]new branch[/]"]
    else:
        marks = [] if row.branch == "main" else [f"branch {_short(row.branch)}"]
    if row.branch_point:
        marks.append(f"[cyan]branch point ({row.children} children)[/]")
    return ", ".join(marks) or "main"


def history_table(history: ThreadHistory) -> None:
    """Checkpoints newest first; `*` marks the line the thread's latest checkpoint is on."""
    table = Table(title=f"{history.thread_id} ({history.graph}): {history.total} checkpoint(s)")
    table.add_column("", no_wrap=True)
    table.add_column("step", justify="right", no_wrap=True)
    table.add_column("checkpoint", no_wrap=True, min_width=36)  # whole: users copy it
    table.add_column("parent", no_wrap=True)
    table.add_column("source", no_wrap=True)
    for header in ("written by", "time (UTC)", "next", "interrupt", "gates"):
        table.add_column(header, overflow="fold")
    table.add_column("branch", no_wrap=True)
    nested = any(row.checkpoint_ns for row in history.rows)
    if nested:
        table.add_column("subgraph", overflow="fold")
    for row in history.rows:
        checkpoint = f"[bold]{row.checkpoint_id}[/]" if row.is_head else row.checkpoint_id
        table.add_row(
            "*" if row.on_head_line else "",
            str(row.step),
            checkpoint,
            _short(row.parent_id),
            row.source,
            escape(_writers(row)),
            _time(row.created_at)[11:],
            ", ".join(row.next) or ("-" if row.checkpoint_ns else "(end)"),
            escape(_interrupts(row.interrupts)),
            _gates(row.gates),
            _branch(row),
            *([escape(row.checkpoint_ns)] if nested else []),
            style=None if row.on_head_line or row.checkpoint_ns else "dim",
        )
    print_table(table)
    if len(history.rows) < history.total:
        console.print(f"({history.total - len(history.rows)} older checkpoint(s) not shown)")
    console.print(
        "* = on the current line (what `status` and `resume` continue from); dim rows are on "
        "other branches.\n"
        f"inspect: waypoint show {history.thread_id} --checkpoint ID | "
        f"waypoint diff {history.thread_id} A B | "
        f"waypoint replay {history.thread_id} --from ID | "
        f"waypoint fork {history.thread_id} --from ID --update JSON",
        highlight=False,
        soft_wrap=True,
    )


def checkpoint_view(view: CheckpointView) -> None:
    """One checkpoint: where it sits in the thread, then every field of the state."""
    row = view.checkpoint
    lines = [
        f"thread      [bold]{escape(view.thread_id)}[/] ({view.graph})",
        f"checkpoint  [bold]{row.checkpoint_id}[/]{'  (latest)' if row.is_head else ''}",
        f"parent      {row.parent_id or '(none)'}",
        f"step        {row.step}   source {row.source}   written by {escape(_writers(row))}",
        f"time        {_time(row.created_at)} UTC",
        f"next        {', '.join(row.next) or ('-' if row.checkpoint_ns else '(end)')}",
        f"branch      {_branch(row)}",
    ]
    if row.checkpoint_ns:
        lines.append(f"subgraph    {escape(row.checkpoint_ns)}")
    if row.interrupts:
        lines.append(f"interrupt   {escape(_interrupts(row.interrupts))}")
    if row.gates:
        lines.append(f"gates       {_gates(row.gates)}")
    console.print(Panel("\n".join(lines), expand=False))
    table = Table("field", "value")
    for path, value in flatten(view.values):
        table.add_row(path, _value(value))
    print_table(table)


def diff_table(diff: StateDiff) -> None:
    """The changes between two checkpoints, one field per row."""
    title = (
        f"{diff.thread_id}: step {diff.before.step} {diff.before.checkpoint_id} → "
        f"step {diff.after.step} {diff.after.checkpoint_id}"
    )
    console.print(title, highlight=False)
    if not diff.changes:
        console.print("no differences")
        return
    table = Table("change", "field", "before", "after")
    for change in diff.changes:
        style = CHANGE_STYLE[change.kind]
        table.add_row(
            f"[{style}]{change.kind}[/]",
            change.path,
            "" if change.kind == "added" else _value(change.before),
            "" if change.kind == "removed" else _value(change.after),
        )
    print_table(table)


def fork_result(result: ForkResult) -> None:
    """The new branch's checkpoint and how to continue it."""
    fields = ", ".join(f"{key}={_value(value)}" for key, value in result.updated.items())
    next_nodes = ", ".join(result.report.next) or "(end)"
    lines = [
        f"thread      [bold]{escape(result.thread_id)}[/]",
        f"forked from {result.forked_from}",
        f"new         [bold]{result.checkpoint_id}[/] (written as {result.as_node or 'inferred'})",
        f"updated     {fields}",
        f"next        {next_nodes}",
        *(f"may act     {escape(effect.describe())}" for effect in result.effects),
        f"continue    waypoint resume {result.thread_id}   "
        f"(or: waypoint replay {result.thread_id} --from {result.checkpoint_id})",
    ]
    console.print(Panel("\n".join(lines), expand=False, border_style="cyan"))


def planned_effects(effects: list[PlannedEffect]) -> None:
    """The side effects an allowed replay may have performed, one line each."""
    for effect in effects:
        console.print(escape(f"may act  {effect.describe()}"))

"""Rich rendering of an eval report: cases by evaluator, pass rates, clusters, nodes, verdict."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from waypoint.cli.render import console, print_table

if TYPE_CHECKING:  # types only: rendering does not import the evals
    from waypoint.evals.report import Report

MARKS = {True: "[green]✓[/]", False: "[red]✗[/]", None: "[dim]skip[/]"}


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def cases_table(report: Report) -> Table:
    """One row per case, one column per evaluator."""
    keys = [e.key for e in report.evaluators]
    table = Table("case", *keys, "where it went wrong", title="cases by evaluator")
    for result in report.results:
        cells = []
        for key in keys:
            outcome = result.outcome(key)
            cells.append("" if outcome is None else MARKS[outcome.passed])
        note = result.divergence or result.cluster or ""
        if result.error:
            note = result.error
        table.add_row(result.case_id, *cells, note)
    return table


def rates_table(report: Report) -> Table:
    """Pass rate per evaluator against its threshold."""
    table = Table(
        "evaluator",
        "source",
        "pass",
        "fail",
        "skip",
        "rate",
        "threshold",
        "",
        title="pass rate per evaluator",
    )
    for e in report.evaluators:
        table.add_row(
            e.key,
            e.source,
            str(e.passed),
            str(e.failed),
            str(e.skipped),
            _rate(e.pass_rate),
            f"{e.threshold:.0%}",
            "" if e.ok else "[red]below[/]",
        )
    return table


def tags_table(report: Report) -> Table:
    """Pass rate per tag."""
    table = Table("tag", "cases", "rate", title="pass rate per tag")
    for tag in report.tags:
        table.add_row(tag.name, str(len(tag.cases)), _rate(tag.pass_rate))
    return table


def nodes_table(report: Report) -> Table:
    """Mean time and total cost per node."""
    table = Table("node", "cases", "mean time", "cost (USD)", title="time and cost per node")
    for node in report.nodes:
        table.add_row(
            node.node, str(node.cases), f"{node.mean_seconds * 1000:.1f} ms", str(node.cost)
        )
    return table


def show(report: Report, written: list[Path], uploaded: str | None) -> None:
    """Print the report and the verdict."""
    print_table(cases_table(report))
    print_table(rates_table(report))
    print_table(tags_table(report))
    if report.clusters:
        console.print("[bold]failures by where they start[/]")
        for cluster in report.clusters:
            console.print(f"  {cluster.name}: {', '.join(cluster.cases)}")
    print_table(nodes_table(report))
    for path in written:
        console.print(f"wrote {path}")
    if uploaded:
        console.print(f"uploaded to LangSmith as experiment {uploaded}")
    run = report.run
    passed = sum(r.passed for r in report.results)
    summary = f"{passed}/{len(report.results)} cases passed ({run.mode}, {run.seconds:.2f}s)"
    if report.exit_code == 0:
        console.print(f"[green]PASS[/] {summary}")
        return
    console.print(f"[red]FAIL[/] {summary}")
    for problem in report.problems:
        console.print(f"  [red]-[/] {problem}", highlight=False)

"""`waypoint kill`, `audit` and `kpis`: stop runs, explain them, measure the workflow."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from waypoint.cli import render
from waypoint.cli.app import DbOption, JsonOption, _run, app
from waypoint.errors import BadInput
from waypoint.input_checks import check_id, check_text, check_thread_id


@app.command("kill")
def kill_command(
    thread: Annotated[str | None, typer.Argument(help="Thread id.")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    graph: Annotated[
        str | None, typer.Option("--graph", help="Every running thread of this graph.")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Halt a running thread before its next node (through the database, not signals)."""

    async def go() -> int:
        from waypoint.audit import requester
        from waypoint.kill import request_kill
        from waypoint.persistence.stores import open_stores

        if not reason.strip():
            raise BadInput("reason: --reason TEXT is required", field="reason")
        check_text(reason, "reason")
        if (thread is None) == (graph is None):
            raise BadInput("thread: give a THREAD or --graph G", field="thread")
        if thread is not None:
            check_thread_id(thread)
        if graph is not None:
            check_id(graph, "graph", what="graph name")
        async with open_stores(db) as stores:
            if graph is not None:
                rows = await stores.db.fetchall(
                    "SELECT thread_id FROM waypoint_threads WHERE graph = :g "
                    "AND status = 'running'",
                    {"g": graph},
                )
                targets = [str(r["thread_id"]) for r in rows]
            else:
                assert thread is not None
                row = await stores.db.fetchone(
                    "SELECT status FROM waypoint_threads WHERE thread_id = :t", {"t": thread}
                )
                if row is None:
                    raise BadInput(f"thread: no thread {thread!r}", field="thread")
                if row["status"] in ("completed", "failed", "halted"):
                    raise BadInput(
                        f"thread: {thread} is {row['status']}; nothing to kill", field="thread"
                    )
                targets = [thread]
            for target in targets:
                await request_kill(stores.db, target, reason, requester())
        if as_json:
            render.emit_json({"killed": targets, "reason": reason})
        else:
            render.console.print(
                f"kill requested for {len(targets)} thread(s): {', '.join(targets) or '-'}; "
                "each halts before its next node"
            )
        return 0

    raise typer.Exit(_run(go()))


@app.command("audit")
def audit_command(
    thread: Annotated[str, typer.Argument(help="Thread id.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """The story of a thread: each node, its gate, provider, retries, humans, halts."""

    async def go() -> int:
        from waypoint.audit import thread_audit

        story = await thread_audit(thread, db_url=db)
        if as_json:
            render.emit_json(story)
            return 0
        table = Table("step", "node", "try", "status", "provider", "gate", "human / error", "ms")
        for row in story["invocations"]:
            gate = ""
            if row["gate"]:
                gate = f"{row['gate']} {'passed' if row['gate_passed'] else 'FAILED'}"
            human: Any = row["human_decision"]
            note = ""
            if human:
                note = f"{human.get('decision')} by {human.get('answered_by') or '?'}"
            elif row["error_class"]:
                note = f"{row['error_class']}: {row['error_message'] or ''}"[:80]
            table.add_row(
                str(row["step"]),
                row["node"],
                str(row["attempt"]),
                row["status"],
                row["provider"] or "",
                gate,
                note,
                f"{row['latency_ms']:.1f}" if row["latency_ms"] is not None else "",
            )
        render.console.print(f"[bold]{story['thread_id']}[/] ({story['graph']}): {story['status']}")
        render.print_table(table)
        for kill in story["kills"]:
            render.console.print(
                f"kill by {kill['requested_by']} at {kill['requested_at']}: {kill['reason']}"
            )
        for override in story["overrides"]:
            render.console.print(
                f"override by {override['actor']} at {override['at']}: {override['reason']}"
            )
        return 0

    raise typer.Exit(_run(go()))


@app.command("kpis")
def kpis_command(
    graph: Annotated[str | None, typer.Option("--graph", help="Only this graph.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="e.g. 7d, 12h.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Completion, intervention, escalation and halt rates, cost, latency, failure clusters."""

    async def go() -> int:
        from waypoint.audit import workflow_kpis
        from waypoint.retention import parse_duration

        window = parse_duration(since, field="since") if since is not None else None
        kpis = await workflow_kpis(db_url=db, graph=graph, since=window)
        if as_json:
            render.emit_json(kpis)
            return 0
        summary = Table("kpi", "value")
        for key in (
            "threads",
            "completion_rate",
            "intervention_rate",
            "escalation_rate",
            "halt_rate",
            "failure_rate",
            "waiting",
            "cost_per_completed_usd",
        ):
            summary.add_row(key, str(kpis[key]))
        render.console.print(summary)
        latency = Table("node", "count", "p50 ms", "p95 ms")
        for node, stats in kpis["latency_ms_by_node"].items():
            latency.add_row(node, str(stats["count"]), str(stats["p50"]), str(stats["p95"]))
        render.console.print(latency)
        if kpis["failure_clusters"]:
            clusters = Table("node", "error class", "count")
            for c in kpis["failure_clusters"]:
                clusters.add_row(c["node"], c["error_class"], str(c["count"]))
            render.console.print(clusters)
        return 0

    raise typer.Exit(_run(go()))


@app.command("registry")
def registry_command(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Capabilities and their providers: owner, version, cost model, SLO and live breaker health."""

    async def go() -> int:
        from waypoint.breakers import Breakers
        from waypoint.capabilities import registry
        from waypoint.config import load_plugins
        from waypoint.persistence.stores import open_stores
        from waypoint.workflows import load_workflow, workflow_names

        for name in workflow_names():
            load_workflow(name)
        load_plugins()
        registry.validate_config()
        rows: list[dict[str, Any]] = []
        async with open_stores(db) as stores:
            breakers = Breakers(stores.db)
            for card in registry.cards():
                view = await breakers.view(f"{card.capability}/{card.name}")
                rows.append(
                    {
                        "capability": card.capability,
                        "name": card.name,
                        "version": card.version,
                        "owner": card.owner,
                        "routed": card.name in registry.route(card.capability, None),
                        "usd_per_call": str(card.usd_per_call),
                        "slo_latency_ms": card.slo_latency_ms,
                        "slo_error_rate": card.slo_error_rate,
                        "health": view.state,
                        "failures": view.failures,
                        "description": card.description,
                    }
                )
        if as_json:
            render.emit_json(rows)
            return 0
        table = Table("capability", "provider", "version", "owner", "routed", "SLO", "health")
        for r in rows:
            table.add_row(
                r["capability"],
                r["name"],
                r["version"],
                r["owner"],
                "yes" if r["routed"] else "",
                f"{r['slo_latency_ms']:g} ms, {r['slo_error_rate']:.1%} errors",
                r["health"],
            )
        render.print_table(table)
        return 0

    raise typer.Exit(_run(go()))

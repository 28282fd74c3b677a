"""`waypoint kill`, `unkill`, `audit` and `kpis`: stop runs, explain them, measure the workflow."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from waypoint.cli import render
from waypoint.cli.app import DbOption, JsonOption, _run, app
from waypoint.errors import BadInput
from waypoint.input_checks import check_id, check_text, check_thread_id


def _check_reason(reason: str) -> None:
    """A kill or unkill needs a reason: present, and text the database can hold."""
    if not reason.strip():
        raise BadInput("reason: --reason TEXT is required", field="reason")
    check_text(reason, "reason")


@app.command("kill")
def kill_command(
    thread: Annotated[str | None, typer.Argument(help="Thread id.")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    graph: Annotated[
        str | None,
        typer.Option(
            "--graph",
            help="Every running, waiting or stopped-half-way thread of this graph, and its new "
            "runs until `waypoint unkill --graph G`.",
        ),
    ] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Every graph's threads and new runs, until unkill --all.")
    ] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Halt threads: a running node is cancelled, a waiting one halts when answered."""

    async def go() -> int:
        from waypoint.audit import requester
        from waypoint.kill import request_kill, request_scope_kill
        from waypoint.persistence.stores import open_stores
        from waypoint.workflows import load_workflow

        _check_reason(reason)
        if sum((thread is not None, graph is not None, everything)) != 1:
            raise BadInput("thread: give one of THREAD, --graph G or --all", field="thread")
        if thread is not None:
            check_thread_id(thread)
        if graph is not None:
            check_id(graph, "graph", what="graph name")
            load_workflow(graph)  # an unknown graph is bad input, not a kill of nothing
        async with open_stores(db) as stores:
            if thread is None:
                killed = await request_scope_kill(stores.db, graph, reason, requester())
                if as_json:
                    render.emit_json(killed.as_json())
                else:
                    counts = ", ".join(f"{n} {status}" for status, n in killed.counts().items())
                    what = f"graph {graph}" if graph is not None else "every graph"
                    render.console.print(
                        f"killed {what}: reached {counts}; a running node is cancelled (a "
                        "sync one at its next capability call), a waiting thread halts when "
                        f"answered; new runs refused until "
                        f"`waypoint unkill {'--graph ' + graph if graph else '--all'} "
                        "--reason TEXT`"
                    )
                return 0
            row = await stores.db.fetchone(
                "SELECT status FROM waypoint_threads WHERE thread_id = :t", {"t": thread}
            )
            if row is None:
                raise BadInput(f"thread: no thread {thread!r}", field="thread")
            if row["status"] in ("completed", "failed", "halted"):
                raise BadInput(
                    f"thread: {thread} is {row['status']}; nothing to kill", field="thread"
                )
            await request_kill(stores.db, thread, reason, requester())
        if as_json:
            render.emit_json({"killed": [thread], "reason": reason, "status": row["status"]})
        else:
            render.console.print(
                f"kill requested for thread {thread} ({row['status']}); a running node is "
                "cancelled (a sync one at its next capability call), else it halts before "
                "its next node"
            )
        return 0

    raise typer.Exit(_run(go()))


@app.command("unkill")
def unkill_command(
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    graph: Annotated[str | None, typer.Option("--graph", help="Lift this graph's kill.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Lift the global kill.")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Lift a graph or global kill: new runs start again; halted threads stay halted."""

    async def go() -> int:
        from waypoint.audit import requester
        from waypoint.kill import lift_scope_kill
        from waypoint.persistence.stores import open_stores

        _check_reason(reason)
        if (graph is None) == (not everything):
            raise BadInput("graph: give --graph G or --all", field="graph")
        if graph is not None:
            check_id(graph, "graph", what="graph name")
        async with open_stores(db) as stores:
            lifted = await lift_scope_kill(stores.db, graph, reason, requester())
        if lifted is None:
            if graph is not None:
                raise BadInput(f"graph: {graph} is not killed; nothing to lift", field="graph")
            raise BadInput("all: there is no global kill; nothing to lift", field="all")
        if as_json:
            render.emit_json({"lifted": lifted, "reason": reason})
        else:
            render.console.print(
                f"lifted the kill of {lifted['scope']} (by {lifted['requested_by']}: "
                f"{lifted['reason']}); threads it halted continue with "
                "`waypoint resume THREAD --override --reason TEXT`"
            )
        return 0

    raise typer.Exit(_run(go()))


@app.command("inbox")
def inbox_command(
    graph: Annotated[str | None, typer.Option("--graph", help="Only this graph.")] = None,
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="Only questions older than this (1h, 2d).")
    ] = None,
    as_user: Annotated[
        str | None,
        typer.Option("--as", help="Only what this user may answer (its threads, its reviews)."),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every question waiting for a human, across threads, oldest first."""

    async def go() -> int:
        from waypoint.inbox import waiting_questions
        from waypoint.retention import parse_duration

        window = parse_duration(older_than, field="older-than") if older_than else None
        items = await waiting_questions(db_url=db, graph=graph, older_than=window, as_user=as_user)
        if as_json:
            render.emit_json({"waiting": [item.as_json() for item in items]})
            return 0
        table = Table("thread", "graph", "node", "kind", "waiting", "asks", "decisions")
        for item in items:
            table.add_row(
                item.thread_id,
                item.graph,
                item.node or "-",
                item.kind,
                f"{item.age_s:.0f}s",
                (item.description or str(item.args))[:120],
                ", ".join(item.allowed_decisions) or "any answer",
            )
        render.console.print(table)
        render.console.print(
            f"{len(items)} waiting; answer with `waypoint resume THREAD [--interrupt ID] ...`"
        )
        return 0

    raise typer.Exit(_run(go()))


@app.command("sweep")
def sweep_command(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Give every question past its deadline its default answer (exactly once, as `sweeper`).

    Questions asked by a server's runs are left to that server's `sweep` worker.
    """

    async def go() -> int:
        from waypoint.sweeper import sweep

        result = await sweep(db_url=db)
        if as_json:
            render.emit_json(result.as_json())
            return 0
        for applied in result.applied:
            render.console.print(
                f"{applied['thread_id']}: {applied['outcome']} (due {applied['deadline_at']}); "
                f"now {applied['status']}"
            )
        render.console.print(
            f"{len(result.applied)} default(s) applied, {len(result.busy)} thread(s) busy "
            f"(next sweep), {len(result.skipped)} answered meanwhile, "
            f"{len(result.claimed)} claimed by another sweep, "
            f"{len(result.served)} left to the server that asked, "
            f"{len(result.failed)} failed (next sweep), "
            f"{len(result.warned)} near their deadline"
        )
        return 0

    raise typer.Exit(_run(go()))


@app.command("notify")
def notify_command(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Deliver queued webhooks (a thread waiting, a halt): signed, retried, once each."""

    async def go() -> int:
        from waypoint.notifications import deliver
        from waypoint.persistence.stores import open_stores

        async with open_stores(db) as stores:
            result = await deliver(stores.db)
        if as_json:
            render.emit_json(result.as_json())
        else:
            render.console.print(
                f"{len(result.delivered)} delivered, {len(result.failed)} failed tries "
                f"(retried next time), {len(result.given_up)} given up"
            )
        return 0

    raise typer.Exit(_run(go()))


@app.command("report")
def report_command(
    html: Annotated[str, typer.Option("--html", help="Write the page here.")],
    thread: Annotated[
        str | None, typer.Argument(help="Thread id (its timeline); omit with --kpis.")
    ] = None,
    kpis: Annotated[
        bool, typer.Option("--kpis", help="The KPIs with charts instead of a thread.")
    ] = False,
    graph: Annotated[str | None, typer.Option("--graph", help="With --kpis: one graph.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="With --kpis: only the last 1h, 7d, ...")
    ] = None,
    db: DbOption = None,
) -> None:
    """A self-contained HTML page: a thread's timeline, or the KPIs (no network to view it)."""

    async def go() -> int:
        import os
        import tempfile
        from pathlib import Path

        from waypoint.input_checks import check_id, check_output_file
        from waypoint.report import kpi_report_html, thread_report_html
        from waypoint.retention import parse_duration

        if kpis == (thread is not None):
            raise BadInput("thread: give a THREAD, or --kpis (not both)", field="thread")
        if not kpis and (graph is not None or since is not None):
            raise BadInput("kpis: --graph and --since go with --kpis", field="kpis")
        if thread is not None:
            check_thread_id(thread)
        if graph is not None:
            check_id(graph, "graph", what="graph name")
        window = parse_duration(since, field="since") if since else None
        out = check_output_file(Path(html), "html")
        if thread is not None:
            text = await thread_report_html(thread, db_url=db)
        else:
            text = await kpi_report_html(db_url=db, graph=graph, since=window)
        fd, temp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(temp, out)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        render.console.print(f"wrote {out} ({len(text) // 1024 + 1} KB)")
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
        for effect in story["effects"]:
            render.console.print(
                f"effect {effect['kind']} {effect['effect_key']}: {effect['status']}"
                + (f" (HTTP {effect['answer_status']})" if effect["answer_status"] else "")
                + f", {effect['attempts']} attempt(s)"
            )
        for request in story["compensations"]:
            render.console.print(
                f"compensation asked by {request['actor']} at {request['requested_at']}: "
                f"{request['reason']}"
            )
        return 0

    raise typer.Exit(_run(go()))


@app.command("kpis")
def kpis_command(
    graph: Annotated[str | None, typer.Option("--graph", help="Only this graph.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="e.g. 7d, 12h.")] = None,
    by: Annotated[str | None, typer.Option("--by", help="day: the counts per day too.")] = None,
    output_format: Annotated[
        str | None, typer.Option("--format", help="prometheus: the exposition text format.")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rates, handoffs to humans by kind, human wait, time to resolution, cost, latency."""

    async def go() -> int:
        from waypoint.audit import workflow_kpis
        from waypoint.retention import parse_duration

        window = parse_duration(since, field="since") if since is not None else None
        if by not in (None, "day"):
            raise BadInput(f"by: expected day, got {str(by)[:40]!r}", field="by")
        if output_format not in (None, "prometheus"):
            raise BadInput(
                f"format: expected prometheus, got {str(output_format)[:40]!r}", field="format"
            )
        kpis = await workflow_kpis(db_url=db, graph=graph, since=window, by_day=by == "day")
        if output_format == "prometheus":
            from waypoint.metrics import prometheus_text

            typer.echo(prometheus_text(kpis), nl=False)
            return 0
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
        for name in ("human_wait_s", "time_to_resolution_s"):
            spread = kpis[name]
            summary.add_row(name, f"p50 {spread['p50']} p95 {spread['p95']} (n={spread['count']})")
        render.console.print(summary)
        if kpis["handoffs_by_kind"]:
            kinds = Table("handoff kind", "handoffs", "threads")
            for kind, entry in kpis["handoffs_by_kind"].items():
                kinds.add_row(kind, str(entry["handoffs"]), str(entry["threads"]))
            render.console.print(kinds)
        if "by_day" in kpis:
            days = Table("day", "threads", "completed", "halted", "failed", "escalated")
            for day in kpis["by_day"]:
                days.add_row(*(str(day[k]) for k in ("day", "threads", "completed", "halted",
                                                      "failed", "escalated")))  # fmt: skip
            render.console.print(days)
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
    """Capabilities and providers: owner, version, cost, SLO, what processes saw, breakers."""

    async def go() -> int:
        from waypoint.breakers import Breakers
        from waypoint.capabilities import registry
        from waypoint.config import load_plugins
        from waypoint.persistence.stores import open_stores
        from waypoint.provider_health import health_of
        from waypoint.workflows import load_workflow, workflow_names

        for name in workflow_names():
            load_workflow(name)
        load_plugins()
        registry.validate_config()
        rows: list[dict[str, Any]] = []
        async with open_stores(db) as stores:
            breakers = Breakers(stores.db)
            seen_by_all = await health_of(stores.db).others()  # what every process saw
            for card in registry.cards():
                view = await breakers.view(f"{card.capability}/{card.name}")
                seen = seen_by_all.get(card.name)
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
                        "seen": None
                        if seen is None
                        else {
                            "latency_ms": round(seen.latency_ms, 3),
                            "error_rate": round(seen.error_rate, 4),
                            "calls": seen.samples,
                            "in_flight": seen.in_flight,
                            "within_slo": seen.latency_ms <= card.slo_latency_ms
                            and seen.error_rate <= card.slo_error_rate,
                        },
                        "description": card.description,
                    }
                )
        if as_json:
            render.emit_json(rows)
            return 0
        table = Table(
            "capability", "provider", "version", "owner", "routed", "SLO", "seen", "health"
        )
        for r in rows:
            seen = r["seen"]
            table.add_row(
                r["capability"],
                r["name"],
                r["version"],
                r["owner"],
                "yes" if r["routed"] else "",
                f"{r['slo_latency_ms']:g} ms, {r['slo_error_rate']:.1%} errors",
                ""
                if seen is None
                else f"{seen['latency_ms']:.1f} ms, {seen['error_rate']:.1%} errors, "
                f"{seen['calls']} calls" + ("" if seen["within_slo"] else " (above SLO)"),
                r["health"],
            )
        render.print_table(table)
        return 0

    raise typer.Exit(_run(go()))

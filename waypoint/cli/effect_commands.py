"""`waypoint relay` and `waypoint compensate`: deliver external effects, and undo them."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import asdict
from typing import Annotated

import typer

from waypoint.cli import render
from waypoint.cli.app import DbOption, JsonOption, _run, app
from waypoint.errors import BadInput
from waypoint.input_checks import check_count, check_text, check_thread_id


@app.command("relay")
def relay_command(
    once: Annotated[
        bool, typer.Option("--once", help="Drain what is pending, then exit (1 if some is left).")
    ] = False,
    attempts: Annotated[
        int, typer.Option("--attempts", help="With --once: tries per effect before giving up.")
    ] = 8,
    poll: Annotated[float, typer.Option("--poll", help="Seconds between looks for work.")] = 1.0,
    max_backoff: Annotated[
        float, typer.Option("--max-backoff", help="Longest wait between tries of one effect (s).")
    ] = 30.0,
    lease: Annotated[
        float,
        typer.Option("--lease", help="How long a claimed effect is left to this relay (s)."),
    ] = 30.0,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deliver pending outbox effects to their providers, with retries and backoff.

    Each effect is sent with its business key as the provider's Idempotency-Key, so a relay
    killed mid-call, two relays, or a relay and the node itself never apply it twice. Runs until
    SIGTERM / Ctrl-C, or with --once until nothing is left to deliver.
    """

    async def go() -> int:
        check_count(attempts, "attempts", maximum=1000)
        if not 0.01 <= poll <= 3600:
            raise BadInput("poll: seconds between 0.01 and 3600", field="poll")
        if not 0.1 <= lease <= 86400:
            raise BadInput("lease: seconds between 0.1 and 86400", field="lease")
        if not 0.01 <= max_backoff <= 86400:
            raise BadInput("max-backoff: seconds between 0.01 and 86400", field="max-backoff")
        stop = asyncio.Event()
        if not once:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
        from waypoint.outbox import relay
        from waypoint.persistence.stores import open_stores

        async with open_stores(db) as stores:
            report = await relay(
                stores.db,
                once=once,
                attempts=attempts,
                poll=poll,
                max_backoff=max_backoff,
                lease=lease,
                stop=None if once else stop,
            )
        if as_json:
            render.emit_json(asdict(report))
        else:
            render.console.print(
                f"relay: {report.delivered} delivered, {report.refused} refused by the provider, "
                f"{report.failed_attempts} failed attempt(s), {report.pending} still pending"
            )
        return 1 if once and report.pending else 0

    raise typer.Exit(_run(go()))


@app.command("compensate")
def compensate_command(
    thread: Annotated[str, typer.Argument(help="Thread id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded with who).")] = "",
    attempts: Annotated[
        int, typer.Option("--attempts", help="Tries per compensation before stopping.")
    ] = 5,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Undo a thread's effects (e.g. reverse its payments), newest first, each exactly once.

    Each effect's declared compensation goes through the outbox under its own key; who asked
    and why are recorded. Run it again after a crash to finish; unknown thread or nothing to
    compensate: exit 2, nothing written.
    """

    async def go() -> int:
        check_thread_id(thread)
        if not reason.strip():
            raise BadInput("reason: --reason TEXT is required", field="reason")
        check_text(reason, "reason")
        check_count(attempts, "attempts", maximum=1000)
        from waypoint.audit import requester
        from waypoint.outbox import CompensationIncomplete, compensate_thread
        from waypoint.persistence.stores import open_stores

        async with open_stores(db) as stores:
            report = await compensate_thread(
                stores.db, thread, reason=reason, actor=requester(), attempts=attempts
            )
        if as_json:
            render.emit_json(asdict(report))
        else:
            for done in report.compensated:
                render.console.print(f"compensated {done['effect']}")
        if report.pending or report.refused:
            raise CompensationIncomplete(
                f"compensation of {thread} is not complete: pending {report.pending or '-'}, "
                f"refused by the provider {report.refused or '-'}; what was done is kept; run "
                "`waypoint compensate` again (or `waypoint relay`) once the provider is back"
            )
        if not as_json:
            render.console.print(
                f"{thread}: {len(report.compensated)} effect(s) compensated "
                f"(request {report.request_id})"
            )
        return 0

    raise typer.Exit(_run(go()))

"""`waypoint prune`: retention of finished threads' checkpoints."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from waypoint.cli import render
from waypoint.cli.app import DbOption, JsonOption, _run, app


@app.command("prune")
def prune_command(
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="Only threads idle this long: 30m, 12h, 7d.")
    ] = None,
    keep_last: Annotated[
        int, typer.Option("--keep-last", help="Checkpoints to keep per thread (at least 1).")
    ] = 1,
    thread: Annotated[str | None, typer.Option("--thread", help="Only this thread.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report, remove nothing.")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove old checkpoints of finished threads; running or waiting threads are never touched.

    Without --thread, also remove the Store's expired items (memory kept with a TTL).
    """

    async def go() -> int:
        from waypoint.retention import parse_duration, prune

        age = parse_duration(older_than) if older_than is not None else None
        result = await prune(
            db_url=db, older_than=age, keep_last=keep_last, thread_id=thread, dry_run=dry_run
        )
        data = result.as_json()
        if as_json:
            render.emit_json(data)
            return 0
        table = Table("", "rows", "bytes")
        table.add_row("before", str(data["rows_before"]), str(data["bytes_before"]))
        table.add_row("after", str(data["rows_after"]), str(data["bytes_after"]))
        table.add_row("reclaimed", str(data["rows_reclaimed"]), str(data["bytes_reclaimed"]))
        verb = "would prune" if dry_run else "pruned"
        render.console.print(f"{verb} {len(result.threads)} finished thread(s)")
        render.print_table(table)
        if thread is None:
            gone = "would remove" if dry_run else "removed"
            render.console.print(f"{gone} {result.store_items_expired} expired Store item(s)")
        for tid, why in result.skipped.items():
            render.console.print(f"skipped {tid}: {why}")
        return 0

    raise typer.Exit(_run(go()))

"""`waypoint history | show | diff | replay | fork`: time travel over a thread's checkpoints.

Registered on the `waypoint` app when `waypoint.cli.app` is imported. `history`, `show` and
`diff` only read and exit 0; `replay` exits with the status of the thread after it, like `run`;
`fork` exits 0 once the new branch is written (2, writing nothing, on a bad edit).
"""

from __future__ import annotations

from typing import Annotated

import typer

from waypoint.cli import render, timetravel_render
from waypoint.cli.app import DbOption, JsonOption, _run, app
from waypoint.errors import BadInput
from waypoint.input_checks import MAX_COUNT

ThreadArgument = Annotated[str, typer.Argument(help="Thread id.")]
AllowEffectsOption = Annotated[
    bool,
    typer.Option(
        "--allow-effects",
        help="Go ahead although the path may perform side effects (payments, messages); "
        "without it the command lists them and writes nothing.",
    ),
]
CHECKPOINT_HELP = (
    "as `waypoint history THREAD` shows it: an id, a unique prefix, …TAIL, or a step number"
)
FromOption = Annotated[str, typer.Option("--from", help=f"Checkpoint, {CHECKPOINT_HELP}.")]


@app.command()
def history(
    thread: ThreadArgument,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, max=MAX_COUNT, help="At most this many, newest first."),
    ] = None,
    subgraphs: Annotated[
        bool,
        typer.Option(
            "--subgraphs", help="Also list the checkpoints subgraphs saved (their namespace shown)."
        ),
    ] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List a thread's checkpoints, newest first, with the branches forks and replays made."""

    async def go() -> int:
        from waypoint.timetravel import thread_history

        result = await thread_history(thread, db_url=db, limit=limit, subgraphs=subgraphs)
        if as_json:
            render.emit_json(result.as_json())
        else:
            timetravel_render.history_table(result)
        return 0

    raise typer.Exit(_run(go()))


@app.command()
def show(
    thread: ThreadArgument,
    checkpoint: Annotated[
        str | None,
        typer.Option("--checkpoint", help=f"Checkpoint, {CHECKPOINT_HELP} (default: the latest)."),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the state of a thread at one checkpoint."""

    async def go() -> int:
        from waypoint.timetravel import show_checkpoint

        result = await show_checkpoint(thread, checkpoint, db_url=db)
        if as_json:
            render.emit_json(result.as_json())
        else:
            timetravel_render.checkpoint_view(result)
        return 0

    raise typer.Exit(_run(go()))


@app.command()
def diff(
    thread: ThreadArgument,
    before: Annotated[str, typer.Argument(help=f"Checkpoint to compare from, {CHECKPOINT_HELP}.")],
    after: Annotated[str, typer.Argument(help="Checkpoint to compare to (the same forms).")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """What changed between two checkpoints, field by field (dotted paths)."""

    async def go() -> int:
        from waypoint.timetravel import diff_checkpoints

        result = await diff_checkpoints(thread, before, after, db_url=db)
        if as_json:
            render.emit_json(result.as_json())
        else:
            timetravel_render.diff_table(result)
        return 0

    raise typer.Exit(_run(go()))


@app.command()
def replay(
    thread: ThreadArgument,
    from_checkpoint: FromOption,
    allow_effects: AllowEffectsOption = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run the thread again from a past checkpoint, as a new branch; human steps ask again."""

    async def go() -> int:
        from waypoint.timetravel import replay_thread

        result = await replay_thread(
            thread, from_checkpoint, db_url=db, allow_effects=allow_effects
        )
        if as_json:
            render.emit_json({**result.as_json(), "replayed_from": from_checkpoint})
        else:
            timetravel_render.planned_effects(result.planned_effects)
            render.report(result)
        return result.exit_code

    raise typer.Exit(_run(go()))


@app.command()
def fork(
    thread: ThreadArgument,
    from_checkpoint: FromOption,
    update: Annotated[
        str,
        typer.Option(
            "--update", help='State fields to change, as JSON, e.g. \'{"order_id": "O-1"}\'.'
        ),
    ],
    as_node: Annotated[
        str | None,
        typer.Option(
            "--as-node",
            help="Write the edit as if this node returned it (default: the node that wrote the "
            "checkpoint); its edges decide what runs next.",
        ),
    ] = None,
    override: Annotated[
        bool,
        typer.Option(
            "--override",
            help="Allow changing fields the workflow protects (decisions, verdicts, human "
            "answers); needs --reason, recorded with who gave it.",
        ),
    ] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (with --override).")] = None,
    allow_effects: AllowEffectsOption = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start a branch from a past checkpoint with edited state; continue it with `resume`."""

    async def go() -> int:
        from waypoint.runner import parse_json
        from waypoint.timetravel import fork_thread

        if override and not (reason or "").strip():
            raise BadInput("reason: --override needs --reason TEXT", field="reason")
        if reason is not None and not override:
            raise BadInput("reason: --reason goes with --override", field="reason")
        values = parse_json(update, what="update")
        result = await fork_thread(
            thread,
            from_checkpoint,
            values,
            as_node=as_node,
            db_url=db,
            override=reason if override else None,
            allow_effects=allow_effects,
        )
        if as_json:
            render.emit_json(result.as_json())
        else:
            timetravel_render.fork_result(result)
        return 0

    raise typer.Exit(_run(go()))

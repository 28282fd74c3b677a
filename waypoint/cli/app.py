"""`waypoint`: run, resume and inspect workflow threads.

Exit codes: 0 completed, 1 failed, 2 bad input or usage, 3 waiting for a human, 4 halted by a
guard or a kill, 5 thread busy.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import sys
from collections.abc import Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.markup import escape
from typer._click.core import Context as ClickContext  # typer 0.29 vendors click here
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from waypoint.cli import render
from waypoint.errors import BadInput, DatabaseUnavailable, WaypointError
from waypoint.input_checks import MAX_COUNT, check_id, check_output_file, check_text

if TYPE_CHECKING:
    from waypoint.runner import AnswerBuilder, PendingInterrupt

# Commands import what they run inside their functions: `waypoint --help` and a usage error
# never pay for LangGraph, psycopg or the evals (bench: `time waypoint --help`).

# A lost connection is reported once, by Waypoint; a guard's halt is reported as the result.
for _noisy in ("psycopg", "psycopg.pool", "langchain_core.callbacks.manager"):
    logging.getLogger(_noisy).setLevel(logging.CRITICAL)


def print_error(message: str) -> None:
    """One `error:` line on stderr: whitespace folded, no rich markup taken from the message."""
    flat = " ".join(str(message).split())
    render.errors.print(f"[red]error:[/] {escape(flat)}", highlight=False, soft_wrap=True)


class WaypointGroup(TyperGroup):
    """The command group: a usage error (a bad option value, a missing argument) is one line."""

    def invoke(self, ctx: ClickContext) -> Any:
        """Run the chosen command; report click's usage errors as one `error:` line, exit 2."""
        try:
            return super().invoke(ctx)
        except NoArgsIsHelpError:
            raise
        except UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            print_error(f"{exc.format_message().rstrip('.')}; see `{where} --help`")
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    name="waypoint",
    help="Run, resume and inspect LangGraph workflow threads.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: no rich layout to import, safe in a pipe
    cls=WaypointGroup,
)

T = TypeVar("T")

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: WAYPOINT_DB_URL, else SQLite in .waypoint/)"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
StreamOption = Annotated[
    bool,
    typer.Option(
        "--stream",
        help="Print the chat models' tokens as they come (to stderr with --json), then the result.",
    ),
]


def _token_printer(as_json: bool) -> Callable[[str, str], None]:
    """A token sink for `--stream`: each node's tokens under its name, flushed as they come."""
    out = sys.stderr if as_json else sys.stdout
    last: list[str] = []

    def show(node: str, text: str) -> None:
        if last != [node]:
            out.write(f"{chr(10) if last else ''}[{node}] ")
            last[:] = [node]
        out.write(text)
        out.flush()

    return show


@contextlib.contextmanager
def _streaming(on: bool, as_json: bool) -> Iterator[None]:
    if not on:
        yield
        return
    from waypoint.streaming import stream_tokens

    with stream_tokens(_token_printer(as_json)):
        yield
    (sys.stderr if as_json else sys.stdout).write("\n")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; map Waypoint errors to their exit codes, one line each.

    A Postgres connection lost where no thread-specific guard caught it is reported too, as
    `DatabaseUnavailable` (exit 1), instead of a traceback.
    """
    import asyncio

    from psycopg import OperationalError as PostgresOperationalError
    from psycopg_pool import PoolTimeout

    try:
        try:
            return asyncio.run(coro)
        except (PostgresOperationalError, PoolTimeout) as exc:
            raise DatabaseUnavailable(
                f"lost the database: {type(exc).__name__}: {exc}. Nothing finished is lost "
                "(checkpoints are kept); once the database is back, run the command again, or "
                "continue a thread with `waypoint resume THREAD`."
            ) from exc
    except WaypointError as exc:
        print_error(f"{exc}")
        raise typer.Exit(exc.exit_code) from None


MAX_INPUT_FILE_BYTES = 16 * 1024 * 1024
"""Largest `--input-file` read (a ticket is a few kilobytes)."""


def read_input_file(path: Path) -> str:
    """The text of an `--input-file`: UTF-8, at most `MAX_INPUT_FILE_BYTES`.

    Raises:
        BadInput: unreadable, too large, or not UTF-8 (field `input-file`).
    """
    try:
        check_text(str(path), "input-file")
        with path.open("rb") as handle:
            data = handle.read(MAX_INPUT_FILE_BYTES + 1)
    except OSError as exc:
        raise BadInput(
            f"input-file: cannot read {path}: {exc.strerror or exc}", field="input-file"
        ) from exc
    if len(data) > MAX_INPUT_FILE_BYTES:
        raise BadInput(
            f"input-file: {path} is larger than {MAX_INPUT_FILE_BYTES // (1024 * 1024)} MiB",
            field="input-file",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(
            f"input-file: {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8",
            field="input-file",
        ) from exc


@app.command()
def run(
    graph: Annotated[str, typer.Argument(help="Graph name from langgraph.json.")],
    input_json: Annotated[str | None, typer.Option("--input", help="Input as JSON.")] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input-file", help="Input as a JSON file.")
    ] = None,
    thread: Annotated[str | None, typer.Option("--thread", help="Thread id (new).")] = None,
    context: Annotated[str | None, typer.Option("--context", help="Run context as JSON.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
    record: Annotated[
        Path | None, typer.Option("--record", help="Also write the run's trace (JSONL) here.")
    ] = None,
    stream: StreamOption = False,
) -> None:
    """Start a new thread and run it until it ends or waits for a human."""

    async def go() -> int:
        from waypoint.evals.recording import run_recorded
        from waypoint.runner import parse_json, start_run

        if (input_json is None) == (input_file is None):
            raise BadInput(
                "input: give exactly one of --input JSON or --input-file PATH", field="input"
            )
        text = read_input_file(input_file) if input_file is not None else input_json or ""
        raw = parse_json(text, what="input")
        ctx = parse_json(context, what="context") if context else {}
        if not isinstance(ctx, dict):
            raise BadInput("context: expected a JSON object", field="context")
        if record is not None:  # checked before the run: a run's effects cannot be undone
            check_output_file(record, "record")
        start = functools.partial(run_recorded, record) if record else start_run  # waypoint.evals
        with _streaming(stream, as_json):
            result = await start(graph, raw, thread_id=thread, db_url=db, context=ctx)
        render.emit_json(result.as_json()) if as_json else render.report(result)
        return result.exit_code

    raise typer.Exit(_run(go()))


@app.command()
def resume(
    thread: Annotated[str, typer.Argument(help="Thread id.")],
    approve: Annotated[bool, typer.Option("--approve", help="Approve the action.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="Reject the action.")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (with --reject).")] = None,
    edit: Annotated[
        str | None,
        typer.Option("--edit", help="Edited arguments as JSON, e.g. '{\"amount\": 50}'."),
    ] = None,
    respond: Annotated[
        str | None, typer.Option("--respond", help="Answer the customer yourself.")
    ] = None,
    override: Annotated[
        bool, typer.Option("--override", help="Continue a halted thread (needs --reason).")
    ] = False,
    interrupt: Annotated[
        str | None,
        typer.Option(
            "--interrupt",
            help="The question answered, by id, when several wait (`status --json` lists them).",
        ),
    ] = None,
    as_user: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="Act as this user: the thread's starter, or a reviewer of its workflow "
            "(WAYPOINT_ROLES) answering its question.",
        ),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
    stream: StreamOption = False,
) -> None:
    """Answer the pending human step, or continue a thread that stopped without finishing."""

    async def go() -> int:
        from waypoint.hitl import approve_answer, edit_answer, reject_answer, respond_answer
        from waypoint.runner import parse_json, resume_thread

        chosen = [
            name
            for name, on in (
                ("--approve", approve),
                ("--reject", reject),
                ("--edit", edit is not None),
                ("--respond", respond is not None),
            )
            if on
        ]
        if len(chosen) > 1:
            raise BadInput(f"decision: choose one of {', '.join(chosen)}", field="decision")
        for name, text in (("reason", reason), ("respond", respond)):
            if text is not None:
                check_text(text, name)
        if override:
            if chosen:
                raise BadInput("override: --override takes no decision", field="override")
            if not (reason or "").strip():
                raise BadInput("reason: --override needs --reason TEXT", field="reason")
            with _streaming(stream, as_json):
                result = await resume_thread(thread, db_url=db, override=reason, as_user=as_user)
            render.emit_json(result.as_json()) if as_json else render.report(result)
            return result.exit_code
        if reason is not None and not reject:
            raise BadInput("reason: --reason goes with --reject or --override", field="reason")
        answer: Mapping[str, Any] | AnswerBuilder | None = None
        if approve:
            answer = approve_answer()
        elif reject:
            answer = reject_answer(reason)
        elif respond is not None:
            answer = respond_answer(respond)
        elif edit is not None:
            args = parse_json(edit, what="edit")

            def edited(pending: PendingInterrupt) -> dict[str, Any]:
                return edit_answer(pending.value, args)  # the action is named in the request

            answer = edited
        with _streaming(stream, as_json):
            result = await resume_thread(
                thread, answer, db_url=db, interrupt_id=interrupt, as_user=as_user
            )
        render.emit_json(result.as_json()) if as_json else render.report(result)
        return result.exit_code

    raise typer.Exit(_run(go()))


@app.command()
def status(
    thread: Annotated[str, typer.Argument(help="Thread id.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Where a thread stands; the exit code says it too."""

    async def go() -> int:
        from waypoint.runner import thread_status

        result = await thread_status(thread, db_url=db)
        render.emit_json(result.as_json()) if as_json else render.report(result)
        return result.exit_code

    raise typer.Exit(_run(go()))


@app.command()
def threads(
    graph: Annotated[str | None, typer.Option("--graph", help="Only this graph.")] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=MAX_COUNT, help="At most this many.")
    ] = 50,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List threads, newest first."""

    async def go() -> int:
        from waypoint.runner import list_threads

        rows = await list_threads(db_url=db, graph=graph, limit=limit)
        render.emit_json(rows) if as_json else render.threads_table(rows)
        return 0

    raise typer.Exit(_run(go()))


@app.command()
def graph(
    name: Annotated[str, typer.Argument(help="Graph name from langgraph.json.")],
    policies: Annotated[
        bool, typer.Option("--policies", help="Each node's failure ladder, as a table.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Print the graph as Mermaid (what the README shows), or its failure ladders."""

    async def go() -> int:
        from waypoint.workflows import load_workflow

        workflow = load_workflow(check_id(name, "graph", what="graph name"))
        if not policies:
            # plain text, never wrapped or styled: `waypoint graph NAME > g.mmd` is valid Mermaid
            render.emit_text(workflow.served.get_graph().draw_mermaid())
            return 0
        rows = [{"node": node, **ladder.rows()} for node, ladder in workflow.ladders.items()]
        if as_json:
            render.emit_json(rows)
        else:
            render.ladders_table(rows)
        return 0

    raise typer.Exit(_run(go()))


@app.command()
def demo(
    db: DbOption = None,
) -> None:
    """Run each workflow's demo cases offline, answer their human steps, show where each went."""
    from waypoint.cli.demo import run_demo

    raise typer.Exit(_run(run_demo(db)))


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    finally:
        # The process ends next. Interpreter teardown would walk every object LangGraph,
        # LangChain and pydantic created (≈0.4 s of a 1.3 s command here); frozen, the final
        # collections skip them. Exit handlers still run, and the OS reclaims the memory.
        gc.freeze()


# Command modules register themselves on `app` when imported.
from waypoint.cli import (  # noqa: E402,F401
    effect_commands,
    eval_commands,
    maintenance_commands,
    ops_commands,
    scaffold_commands,
    timetravel_commands,
)

"""`waypoint record` and `waypoint eval`: traces of real runs, and eval suites over them.

`record` exits with the recorded thread's status, like `run` (0 completed, 1 failed, 3 waiting),
2 on bad input (checked before the run: nothing written), 1 when an answer does not fit the
question the run asked (the thread is kept; no trace written). `eval` exits 0 when the CI gate
passes, 1 when it fails (a pass rate below its threshold, a baseline case failing, an errored
case, a cost past its budget), 2 on bad usage (an invalid suite, `--upload` without
`LANGSMITH_API_KEY`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from waypoint.cli import eval_render, render
from waypoint.cli.app import DbOption, JsonOption, _run, app, read_input_file
from waypoint.errors import BadInput
from waypoint.input_checks import check_output_file


def _read_input(input_json: str | None, input_file: Path | None) -> Any:
    from waypoint.runner import parse_json

    if (input_json is None) == (input_file is None):
        raise BadInput(
            "input: give exactly one of --input JSON or --input-file PATH", field="input"
        )
    if input_file is not None:
        return parse_json(read_input_file(input_file), what="input")
    return parse_json(input_json or "", what="input")


def _object(text: str | None, what: str) -> dict[str, Any]:
    from waypoint.runner import parse_json

    value = parse_json(text, what=what) if text else {}
    if not isinstance(value, dict):
        raise BadInput(f"{what}: expected a JSON object", field=what)
    return value


@app.command()
def record(
    graph: Annotated[str, typer.Argument(help="Graph name from langgraph.json.")],
    out: Annotated[Path, typer.Option("--out", help="Trace file to write (JSONL).")],
    input_json: Annotated[str | None, typer.Option("--input", help="Input as JSON.")] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input-file", help="Input as a JSON file.")
    ] = None,
    answer: Annotated[
        list[str] | None,
        typer.Option(
            "--answer",
            help="A human answer as JSON, applied when the run waits; repeat for several, in "
            'order. {"type": "approve"}, {"type": "edit", "args": {...}}, '
            '{"type": "respond", "message": ...}, {"type": "reject"} or an HITLResponse.',
        ),
    ] = None,
    context: Annotated[str | None, typer.Option("--context", help="Run context as JSON.")] = None,
    thread: Annotated[str | None, typer.Option("--thread", help="Thread id (new).")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a graph with the trace recorder attached and write the trace (redacted) to --out."""

    async def go() -> int:
        from waypoint.evals.recording import record_case, write_recorded

        raw = _read_input(input_json, input_file)
        answers = [_object(text, "answer") for text in answer or []]
        check_output_file(out, "out")  # before the run: a run's effects cannot be undone
        recorded = await record_case(
            graph,
            raw,
            answers=answers,
            context=_object(context, "context"),
            db_url=db,
            thread_id=thread,
        )
        path = write_recorded(recorded, out)
        if as_json:
            render.emit_json({**recorded.report.as_json(), "trace": str(path)})
        else:
            render.report(recorded.report)
            render.console.print(f"trace   {path} ({len(recorded.runs)} runs)")
        return recorded.report.exit_code

    raise typer.Exit(_run(go()))


Mode = Literal["score", "replay", "live"]


@app.command("eval")
def eval_command(
    suite: Annotated[Path, typer.Argument(help="Suite file, or the folder holding suite.yaml.")],
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="score: the recorded traces as they are (no model, no network); replay: run "
            "today's graph with the recorded model answers; live: with the configured providers.",
        ),
    ] = "score",
    baseline: Annotated[
        Path | None,
        typer.Option("--baseline", help="A baseline or earlier JSON report to compare with."),
    ] = None,
    report_dir: Annotated[
        Path | None,
        typer.Option("--report", help="Write eval-report.json, .xml (JUnit) and .md here."),
    ] = None,
    upload_results: Annotated[
        bool, typer.Option("--upload", help="Upload to LangSmith (needs LANGSMITH_API_KEY).")
    ] = False,
    judge: Annotated[
        str | None,
        typer.Option("--judge", help="provider:model for LLM judges (else they are skipped)."),
    ] = None,
    context: Annotated[
        str | None,
        typer.Option("--context", help="Run context changes for replay/live, as JSON."),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="provider:model for live mode.")
    ] = None,
    case: Annotated[list[str] | None, typer.Option("--case", help="Only this case.")] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Only cases with this tag.")
    ] = None,
    write_baseline_to: Annotated[
        Path | None,
        typer.Option("--write-baseline", help="Write which cases pass now, as a baseline."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Evaluate a suite of recorded traces; exit 1 when the CI gate fails."""

    async def go() -> int:
        from waypoint.capabilities import registry
        from waypoint.evals.report import Baseline, build_report
        from waypoint.evals.report_files import write_baseline, write_report
        from waypoint.evals.scoring import CaseResult
        from waypoint.evals.session import run_suite, select_cases
        from waypoint.evals.suite import load_suite
        from waypoint.evals.upload import require_api_key, upload
        from waypoint.runner import validate_context
        from waypoint.workflows import load_workflow

        if mode not in ("score", "replay", "live"):
            raise BadInput("mode: expected score, replay or live", field="mode")
        if upload_results:
            require_api_key()
        overrides = _object(context, "context")
        if model is not None:
            if mode != "live":
                raise BadInput("model: --model goes with --mode live", field="model")
            overrides["model"] = model
        if overrides and mode == "score":
            raise BadInput("context: --context changes runs; use it with replay or live")
        loaded = load_suite(suite)
        if overrides:  # a bad change is a usage error (exit 2), not a failing case
            validate_context(load_workflow(loaded.graph), overrides)
        if judge is not None:
            try:
                registry.check_model(judge)
            except ValueError as exc:
                raise BadInput(f"judge: {exc}", field="judge") from exc
        against = Baseline.read(baseline) if baseline is not None else None
        total = len(select_cases(loaded, case, tag))
        chosen: Mode = mode  # type: ignore[assignment]
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        with Progress(
            TextColumn(f"[bold]{loaded.name}[/] {mode}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=render.errors,
            transient=True,
            disable=as_json,
        ) as progress:
            task = progress.add_task("", total=total)

            def advance(result: CaseResult) -> None:
                progress.update(task, advance=1, description=result.case_id)

            run = await run_suite(
                loaded,
                mode=chosen,
                case_ids=case,
                tags=tag,
                judge_model=judge,
                context_overrides=overrides,
                on_result=advance,
            )
        result = build_report(run, against)
        written = write_report(result, report_dir) if report_dir is not None else []
        if write_baseline_to is not None:
            written.append(write_baseline(result, write_baseline_to))
        uploaded = upload(result) if upload_results else None
        if as_json:
            render.emit_json(result.as_json())
        else:
            eval_render.show(result, written, uploaded)
        return result.exit_code

    raise typer.Exit(_run(go()))

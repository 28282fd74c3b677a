"""Record a graph run as a trace: `waypoint record`, `waypoint run --record`, and replay.

`recording()` attaches a `TraceRecorder` to every graph invocation made in its context (through
LangChain's configure hook, so the runner needs no extra argument) and sets the capability hook
that traces model and tool calls. `record_case` runs a case through the real runner (checkpoints,
ledger, guards, side effects), applies the human answers in order whenever the run waits, and
returns the redacted header and runs ready to write.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_core.tracers.context import register_configure_hook

from waypoint.capability_hooks import capability_hook
from waypoint.errors import BadInput, RunKeptError
from waypoint.evals.model_calls import ReplayAnswers, TracedCalls
from waypoint.evals.provenance import git_revision
from waypoint.evals.redaction import Redactor
from waypoint.evals.thread_facts import annotate_checkpoints, thread_steps
from waypoint.evals.trace_format import TraceHeader, providers_of, write_trace
from waypoint.evals.tracer import TraceRecorder
from waypoint.hitl import ALL_DECISIONS
from waypoint.input_checks import check_json_value, check_output_file, check_thread_id, shown
from waypoint.runner import PendingInterrupt, ThreadReport, resume_thread, start_run
from waypoint.workflows import load_workflow

_active_recorder: ContextVar[TraceRecorder | None] = ContextVar(
    "waypoint_trace_recorder", default=None
)
register_configure_hook(_active_recorder, True)


@contextmanager
def recording(*, replay: ReplayAnswers | None = None) -> Iterator[TraceRecorder]:
    """Trace every graph invocation and capability call made in this context.

    Args:
        replay: answer model calls from these recorded answers instead of a provider.
    """
    recorder = TraceRecorder()
    token = _active_recorder.set(recorder)
    try:
        with capability_hook(TracedCalls(replay=replay)):
            yield recorder
    finally:
        _active_recorder.reset(token)


_DECISION_KEYS = {"type", "message", "edited_action"}
_RECORDED_DECISION_KEYS = _DECISION_KEYS | {"args"}


def _check_decision(decision: Any, field: str, *, recorded_form: bool) -> None:
    """One decision, as far as it can be judged before the question is known."""
    if not isinstance(decision, Mapping):
        raise BadInput(f"{field}: expected an object {{'type': ...}}", field=field)
    kind = decision.get("type")
    if kind not in ALL_DECISIONS:
        raise BadInput(
            f"{field}.type: expected one of {', '.join(ALL_DECISIONS)}, got {shown(kind)}",
            field=f"{field}.type",
        )
    allowed = _RECORDED_DECISION_KEYS if recorded_form else _DECISION_KEYS
    unknown = sorted(str(key) for key in decision if key not in allowed)
    if unknown:
        name = f"{field}.{unknown[0][:80]}"
        raise BadInput(
            f"{name}: unknown field (expected one of {', '.join(sorted(allowed))})", field=name
        )
    message = decision.get("message")
    if message is not None and not isinstance(message, str):
        raise BadInput(
            f"{field}.message: expected text, got {shown(message)}", field=f"{field}.message"
        )
    if kind == "respond" and not (message or "").strip():
        raise BadInput(
            f"{field}.message: a respond decision needs the reply text", field=f"{field}.message"
        )
    edited = decision.get("edited_action")
    args = decision.get("args")
    if kind != "edit" and (edited is not None or args is not None):
        raise BadInput(f"{field}: only an edit decision carries arguments", field=field)
    if kind == "edit":
        if edited is not None:
            if not isinstance(edited, Mapping) or not isinstance(edited.get("name"), str):
                raise BadInput(
                    f"{field}.edited_action: expected {{'name': ACTION, 'args': {{...}}}}",
                    field=f"{field}.edited_action",
                )
            args = edited.get("args")
        elif not recorded_form:
            raise BadInput(
                f"{field}.edited_action: an edit decision needs {{'name': ..., 'args': {{...}}}}",
                field=f"{field}.edited_action",
            )
        if not isinstance(args, Mapping) or not args:
            raise BadInput(
                f"{field}.args: an edit decision needs the edited arguments as an object",
                field=f"{field}.args",
            )


def check_answer(answer: Any, number: int = 1) -> None:
    """Refuse a malformed recorded answer before the run starts (see `answer_builder`).

    Whether the answer fits the question the run will ask is known only then; this checks
    everything that can be checked before: the shape, the decision type, the text.

    Raises:
        BadInput: naming the answer (`answer[1].type`) and what was expected.
    """
    field = f"answer[{number}]"
    if not isinstance(answer, Mapping):
        raise BadInput(f"{field}: expected a JSON object", field=field)
    check_json_value(answer, field)
    if "decisions" not in answer:
        _check_decision(answer, field, recorded_form=True)
        return
    extra = sorted(str(key) for key in answer if key != "decisions")
    if extra:
        raise BadInput(
            f"{field}.{extra[0][:80]}: unknown field (an HITLResponse holds only decisions)",
            field=f"{field}.{extra[0][:80]}",
        )
    decisions = answer["decisions"]
    if not isinstance(decisions, list) or not decisions:
        raise BadInput(
            f"{field}.decisions: expected a list of decisions", field=f"{field}.decisions"
        )
    for index, decision in enumerate(decisions):
        _check_decision(decision, f"{field}.decisions[{index}]", recorded_form=False)


def answer_builder(answer: Mapping[str, Any]) -> Any:
    """Turn a recorded answer into what `resume_thread` takes.

    Accepts an `HITLResponse` (`{"decisions": [...]}`) or one decision: `{"type": "approve"}`,
    `{"type": "reject", "message": ...}`, `{"type": "respond", "message": ...}`, or
    `{"type": "edit", "args": {...}}` (the action name is taken from the pending request).
    """
    if "decisions" in answer:
        return dict(answer)
    if "type" not in answer:
        raise BadInput(
            'answer: expected {"decisions": [...]} or one decision {"type": ...}', field="answer"
        )
    decision = dict(answer)
    if decision["type"] != "edit" or "edited_action" in decision:
        return {"decisions": [decision]}
    args = decision.pop("args", {})

    def build(pending: PendingInterrupt) -> dict[str, Any]:
        action = pending.value["action_requests"][0]["name"]
        edited = {**decision, "edited_action": {"name": action, "args": args}}
        return {"decisions": [edited]}

    return build


@dataclass
class RecordedCase:
    """A recorded run: the trace to write and where the thread ended."""

    header: TraceHeader
    runs: list[dict[str, Any]]
    report: ThreadReport
    answers_used: int
    answer_refused: str | None = None
    """Replay only: why a recorded answer was not accepted (the run asked something else)."""

    def write(self, path: Path) -> Path:
        """Write the trace file."""
        return write_trace(path, self.header, self.runs)


def write_recorded(recorded: RecordedCase, path: Path) -> Path:
    """Write a recorded run's trace; a failure says the run itself is kept.

    Raises:
        RunKeptError: the trace could not be written (the thread and its effects stand).
    """
    try:
        return recorded.write(path)
    except OSError as exc:
        report = recorded.report
        raise RunKeptError(
            f"thread {report.thread_id} ran and is {report.status}, but its trace could not be "
            f"written to {path}: {exc.strerror or exc}. The thread and what it did are kept "
            f"(`waypoint status {report.thread_id}`); a new trace needs a new run."
        ) from exc


async def record_case(
    graph: str,
    raw_input: Any,
    *,
    answers: Sequence[Mapping[str, Any]] = (),
    context: Mapping[str, Any] | None = None,
    db_url: str | None = None,
    thread_id: str | None = None,
    replay: ReplayAnswers | None = None,
    strict_answers: bool = True,
    annotate: bool = True,
    check_model: bool = True,
) -> RecordedCase:
    """Run a case through the runner with the tracer attached; return the redacted trace.

    Args:
        graph: graph name from langgraph.json.
        raw_input: the run's input.
        answers: human answers, applied in order each time the run waits.
        context: run context (e.g. `approval_threshold`, `model`).
        db_url: database for checkpoints and side effects (default: the usual one).
        thread_id: thread id (default: a new one).
        replay: serve model calls from these recorded answers (replay mode).
        strict_answers: an answer left over (the run stopped waiting first) is `BadInput`.
        annotate: add checkpoint ids and agentevals' thread trajectory from the checkpoints
            (two more database reads; replay skips them).
        check_model: refuse a `model` setting that cannot be built here (off to re-run a
            recorded context as it was).

    Raises:
        BadInput: bad input, context or a malformed answer; nothing was written.
        RunKeptError: strict answers only: an answer did not fit the question the run asked,
            or answers were left over when the run stopped waiting. The thread is kept (what it
            did before stands, nothing ran on the refused answer); no trace is returned.
    """
    workflow = load_workflow(graph)
    if strict_answers:
        for number, answer in enumerate(answers, start=1):
            check_answer(answer, number)
    if thread_id is not None:
        check_thread_id(thread_id)
    thread = thread_id or f"{graph}-{uuid.uuid4().hex[:12]}"
    used = 0
    refused: str | None = None
    with recording(replay=replay) as recorder:
        report = await start_run(
            graph,
            raw_input,
            thread_id=thread,
            db_url=db_url,
            context=context,
            check_model=check_model,
        )
        while report.status == "waiting" and used < len(answers):
            builder = answer_builder(answers[used])
            used += 1
            try:
                report = await resume_thread(thread, builder, db_url=db_url)
            except BadInput as exc:
                node = report.interrupts[0].node
                if strict_answers:
                    raise RunKeptError(
                        f"answer {used} does not fit the question at {node}: {exc}. Nothing ran "
                        f"on it; thread {thread} was started and is kept, waiting at {node}: "
                        f"answer it with `waypoint resume {thread} ...`. No trace was written."
                    ) from exc
                # Replay went elsewhere: the recorded answer does not fit this question.
                refused = f"answer {used} does not fit the question at {node}: {exc}"
                used -= 1
                break
    if strict_answers and used < len(answers):
        raise RunKeptError(
            f"answer: {len(answers) - used} answer(s) left over: thread {thread} ran and is "
            f"{report.status}, not waiting for a human. The thread and what it did are kept "
            f"(`waypoint audit {thread}`); no trace was written. Record again with only the "
            "answers the run asks for."
        )
    runs = recorder.runs
    if annotate:
        await annotate_checkpoints(runs, thread, db_url)
    header = TraceHeader(
        graph=graph,
        git_revision=git_revision(),
        providers=providers_of(runs),
        thread_id=thread,
        recorded_at=datetime.now(UTC).isoformat(),
        input=dict(raw_input) if isinstance(raw_input, Mapping) else None,
        context=dict(context or {}),
        answers=[dict(a) for a in answers[:used]],
        status=report.status,
        thread_steps=await thread_steps(graph, thread, db_url) if annotate else None,
    )
    redactor = Redactor.for_models(
        [workflow.state_schema, workflow.input_schema, workflow.context_schema]
    )
    header, runs = redactor(header, runs)
    return RecordedCase(
        header=header, runs=runs, report=report, answers_used=used, answer_refused=refused
    )


async def run_recorded(
    out: Path,
    graph: str,
    raw_input: Any,
    *,
    thread_id: str | None = None,
    db_url: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> ThreadReport:
    """`waypoint run --record FILE`: `start_run` with the tracer attached; write the trace.

    Raises:
        BadInput: `out` cannot be written (checked before the run), or bad input.
        RunKeptError: the trace could not be written after the run (the thread is kept).
    """
    check_output_file(out, "record")
    recorded = await record_case(
        graph, raw_input, context=context, db_url=db_url, thread_id=thread_id
    )
    write_recorded(recorded, out)
    return recorded.report

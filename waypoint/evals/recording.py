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
from waypoint.errors import BadInput
from waypoint.evals.model_calls import ReplayAnswers, TracedCalls
from waypoint.evals.provenance import git_revision
from waypoint.evals.redaction import Redactor
from waypoint.evals.thread_facts import annotate_checkpoints, thread_steps
from waypoint.evals.trace_format import TraceHeader, providers_of, write_trace
from waypoint.evals.tracer import TraceRecorder
from waypoint.runner import PendingInterrupt, ThreadReport, resume_thread, start_run
from waypoint.workflows import load_workflow

_active_recorder: ContextVar[TraceRecorder | None] = ContextVar(
    "waypoint_trace_recorder", default=None
)
register_configure_hook(_active_recorder, True)


@contextmanager
def recording(
    recorder: TraceRecorder | None = None, *, replay: ReplayAnswers | None = None
) -> Iterator[TraceRecorder]:
    """Trace every graph invocation and capability call made in this context.

    Args:
        recorder: where the runs go (a new one by default).
        replay: answer model calls from these recorded answers instead of a provider.
    """
    recorder = recorder or TraceRecorder()
    token = _active_recorder.set(recorder)
    try:
        with capability_hook(TracedCalls(replay=replay)):
            yield recorder
    finally:
        _active_recorder.reset(token)


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

    Raises:
        BadInput: bad input, context or answers (nothing is written to the trace).
    """
    workflow = load_workflow(graph)
    thread = thread_id or f"{graph}-{uuid.uuid4().hex[:12]}"
    used = 0
    refused: str | None = None
    with recording(replay=replay) as recorder:
        report = await start_run(graph, raw_input, thread_id=thread, db_url=db_url, context=context)
        while report.status == "waiting" and used < len(answers):
            builder = answer_builder(answers[used])
            used += 1
            try:
                report = await resume_thread(thread, builder, db_url=db_url)
            except BadInput as exc:
                if strict_answers:
                    raise
                # Replay went elsewhere: the recorded answer does not fit this question.
                refused = (
                    f"answer {used} does not fit the question at {report.interrupts[0].node}: {exc}"
                )
                used -= 1
                break
    if strict_answers and used < len(answers):
        raise BadInput(
            f"answer: {len(answers) - used} answer(s) left over; the run is {report.status}, "
            "not waiting for a human",
            field="answer",
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
    """`waypoint run --record FILE`: `start_run` with the tracer attached; write the trace."""
    recorded = await record_case(
        graph, raw_input, context=context, db_url=db_url, thread_id=thread_id
    )
    recorded.write(out)
    return recorded.report

"""Run a suite in one of three modes.

- `score`: evaluate the recorded traces as they are; no model, no graph, no network (CI default).
- `replay`: run today's graph code again for each case, through the real runner on a throwaway
  SQLite database of its own, with the recorded input, context and human answers; every model
  answer is served from the case's trace by prompt hash, and a prompt the trace never saw is
  drift.
- `live`: the same run, but the configured providers answer (a `model` override may be given).
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from waypoint.errors import WaypointError
from waypoint.evals.evaluators.base import Evaluator, ScoringContext
from waypoint.evals.evaluators.catalog import evaluators_for
from waypoint.evals.model_calls import ReplayAnswers
from waypoint.evals.recording import record_case
from waypoint.evals.scoring import CaseResult, score_case, unreadable_case
from waypoint.evals.suite import Case, Suite
from waypoint.evals.trace_format import TraceFile, read_trace
from waypoint.evals.trace_view import build_view
from waypoint.policy import operator_policy

Mode = Literal["score", "replay", "live"]
JUDGE_ENV = "WAYPOINT_JUDGE_MODEL"


@dataclass
class SuiteRun:
    """The results of one `waypoint eval`."""

    suite: Suite
    mode: Mode
    results: list[CaseResult] = field(default_factory=list)
    seconds: float = 0.0
    judge_model: str | None = None
    context_overrides: dict[str, Any] = field(default_factory=dict)


def judge_model_for(suite: Suite, explicit: str | None = None) -> str | None:
    """The judge model: `--judge`, else `WAYPOINT_JUDGE_MODEL`, else the suite's; None offline."""
    return explicit or os.environ.get(JUDGE_ENV) or suite.judge_model


def select_cases(suite: Suite, ids: list[str] | None, tags: list[str] | None) -> list[Case]:
    """The cases to run: all, or those with one of `ids` / one of `tags`."""
    chosen = suite.cases
    if ids:
        chosen = [case for case in chosen if case.id in ids]
    if tags:
        chosen = [case for case in chosen if set(tags) & set(case.tags)]
    return chosen


def _score_one(
    case: Case, suite: Suite, evaluators: list[Evaluator], ctx: ScoringContext
) -> CaseResult:
    path = suite.trace_path(case)
    try:
        view = build_view(read_trace(path))
    except (WaypointError, ValueError) as exc:
        return unreadable_case(case, str(path), f"unreadable trace: {exc}")
    return score_case(case, view, evaluators, ctx, trace=str(path))


async def _rerun_one(
    case: Case,
    suite: Suite,
    evaluators: list[Evaluator],
    ctx: ScoringContext,
    *,
    mode: Mode,
    db_url: str,
    overrides: Mapping[str, Any],
) -> CaseResult:
    path = suite.trace_path(case)
    try:
        recorded = read_trace(path)
    except WaypointError as exc:
        return unreadable_case(case, str(path), f"unreadable trace: {exc}")
    header = recorded.header
    if header.input is None:
        return unreadable_case(case, str(path), "the trace header has no input to run again")
    answers = ReplayAnswers.from_runs(recorded.runs) if mode == "replay" else None
    policy = case.record.policy if case.record is not None else {}
    try:
        with operator_policy(header.graph, policy):
            rerun = await record_case(
                header.graph,
                header.input,
                answers=header.answers,
                context={**header.context, **overrides},
                db_url=db_url,
                thread_id=f"eval-{case.id}-{uuid.uuid4().hex[:8]}",
                replay=answers,
                strict_answers=False,
                annotate=False,
                check_model=False,  # the recorded context as it was (eval_command checks overrides)
            )
    except Exception as exc:  # the graph could not run at all: an errored case, not a crash
        return unreadable_case(case, str(path), f"{mode} failed: {type(exc).__name__}: {exc}")
    view = build_view(TraceFile(header=rerun.header, runs=rerun.runs))
    drift = [
        {"node": d.node, "capability": d.capability, "prompt_hash": d.key}
        for d in (answers.drifts if answers else [])
    ]
    error = None
    if drift:
        first = drift[0]
        error = f"replay drift at {first['node']} ({first['capability']}): unseen prompt"
    notes = [rerun.answer_refused] if rerun.answer_refused else []
    return score_case(
        case, view, evaluators, ctx, trace=str(path), error=error, drift=drift, notes=notes
    )


async def run_suite(
    suite: Suite,
    *,
    mode: Mode = "score",
    case_ids: list[str] | None = None,
    tags: list[str] | None = None,
    judge_model: str | None = None,
    context_overrides: Mapping[str, Any] | None = None,
    on_result: Callable[[CaseResult], None] | None = None,
) -> SuiteRun:
    """Evaluate the suite's cases in `mode`; `on_result` is called after each case."""
    started = time.perf_counter()
    overrides = dict(context_overrides or {})
    run = SuiteRun(
        suite=suite,
        mode=mode,
        judge_model=judge_model_for(suite, judge_model),
        context_overrides=overrides,
    )
    evaluators = evaluators_for(suite)
    ctx = ScoringContext(suite=suite, judge_model=run.judge_model)
    cases = select_cases(suite, case_ids, tags)
    if mode == "score":
        for case in cases:
            result = _score_one(case, suite, evaluators, ctx)
            run.results.append(result)
            if on_result is not None:
                on_result(result)
    else:
        with tempfile.TemporaryDirectory(prefix="waypoint-eval-") as workdir:
            for number, case in enumerate(cases):
                # a database per case: a workflow's own tables (a CRM a refund updates) start
                # as the case was recorded, whatever the cases before it did
                db_url = f"sqlite:///{Path(workdir) / f'case-{number}.sqlite'}"
                result = await _rerun_one(
                    case, suite, evaluators, ctx, mode=mode, db_url=db_url, overrides=overrides
                )
                run.results.append(result)
                if on_result is not None:
                    on_result(result)
    run.seconds = time.perf_counter() - started
    return run

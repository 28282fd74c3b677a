"""Evaluators on real recorded traces: openevals/agentevals matching, Waypoint's checks, judges."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.helpers import PROJECT_ROOT, tool_answer
from waypoint.evals.evaluators.base import ScoringContext
from waypoint.evals.evaluators.catalog import evaluators_for
from waypoint.evals.evaluators.checks import FailurePath, GateVerdicts, Interrupts, WithinBudgets
from waypoint.evals.evaluators.judge import LLMJudge, judge_prompt
from waypoint.evals.evaluators.matching import NodeTrajectory, OutputMatch, ToolCalls
from waypoint.evals.scoring import divergence, score_case
from waypoint.evals.suite import Case, Expectations, JudgeSpec, Suite, load_suite
from waypoint.evals.trace_format import read_trace
from waypoint.evals.trace_view import TraceView, build_view

SUITE = load_suite(PROJECT_ROOT / "evals" / "support")
CASES = {case.id: case for case in SUITE.cases}


def view_of(case_id: str) -> TraceView:
    return build_view(read_trace(SUITE.trace_path(CASES[case_id])))


def case_with(case_id: str, **expect: Any) -> Case:
    """The case with some expectations replaced (validated like a suite file)."""
    base = CASES[case_id]
    merged = {**base.expect.model_dump(exclude_unset=True), **expect}
    return base.model_copy(update={"expect": Expectations.model_validate(merged)})


CTX = ScoringContext(suite=SUITE)
APPROVED = [
    "intake",
    "classify",
    "classification_gate",
    "lookup",
    "decide",
    "draft",
    "review_gate",
    "approval",
    "execute",
]


@pytest.mark.parametrize(
    ("mode", "expected", "passes"),
    [
        ("strict", APPROVED, True),
        ("strict", [n for n in APPROVED if n != "approval"], False),
        ("unordered", list(reversed(APPROVED)), True),
        ("unordered", APPROVED[:-1], False),
        ("subset", [*APPROVED, "escalate"], True),  # visited ⊆ expected
        ("subset", APPROVED[:3], False),
        ("superset", ["classify", "approval"], True),  # visited ⊇ expected
        ("superset", ["classify", "escalate"], False),
    ],
)
def test_trajectory_modes(mode: str, expected: list[str], passes: bool) -> None:
    case = case_with("approval-approve", nodes=expected, trajectory_mode=mode)
    outcome = NodeTrajectory().evaluate(case, view_of("approval-approve"), CTX)
    assert outcome.passed is passes


def test_output_match_compares_numbers_by_value() -> None:
    view = view_of("auto-refund-small")
    good = case_with("auto-refund-small", output={"resolution.refund_amount": 25})
    assert OutputMatch().evaluate(good, view, CTX).passed is True
    bad = case_with("auto-refund-small", output={"resolution.kind": "rejected"})
    outcome = OutputMatch().evaluate(bad, view, CTX)
    assert outcome.passed is False
    assert "resolution.kind" in outcome.comment


def test_tool_calls_match_on_expected_arguments() -> None:
    view = view_of("auto-refund-small")
    lookup_o1 = [{"name": "crm_lookup", "args": {"order_id": "O-1"}}]
    ok = case_with("auto-refund-small", tool_calls=lookup_o1, tool_calls_mode="superset")
    assert ToolCalls().evaluate(ok, view, CTX).passed is True
    exactly = case_with("auto-refund-small", tool_calls=lookup_o1, tool_calls_mode="strict")
    assert ToolCalls().evaluate(exactly, view, CTX).passed is False  # three calls were made
    lookup_o2 = [{"name": "crm_lookup", "args": {"order_id": "O-2"}}]
    wrong = case_with("auto-refund-small", tool_calls=lookup_o2, tool_calls_mode="superset")
    assert ToolCalls().evaluate(wrong, view, CTX).passed is False


def test_gate_and_interrupt_checks() -> None:
    view = view_of("redraft-loop-respond")
    assert GateVerdicts().evaluate(CASES["redraft-loop-respond"], view, CTX).passed is True
    one_review = case_with(
        "redraft-loop-respond",
        gates=[{"gate": "classification", "passed": True}, {"gate": "review", "passed": False}],
    )
    assert GateVerdicts().evaluate(one_review, view, CTX).passed is False
    none = case_with("redraft-loop-respond", interrupts=[])
    outcome = Interrupts().evaluate(none, view, CTX)
    assert outcome.passed is False
    assert "approval:issue_refund" in outcome.comment


def test_failure_path_needs_the_expected_errors_and_halt() -> None:
    view = view_of("failure-model-abort")
    assert FailurePath().evaluate(CASES["failure-model-abort"], view, CTX).passed is True
    nothing_expected = case_with("failure-model-abort", errors=None, halt=None)
    outcome = FailurePath().evaluate(nothing_expected, view, CTX)
    assert outcome.passed is False
    assert "unexpected error at classify: ValueError" in outcome.comment
    clean = view_of("auto-refund-small")
    expects_error = case_with("auto-refund-small", errors=[{"node": "draft"}])
    assert FailurePath().evaluate(expects_error, clean, CTX).passed is False


def test_budgets_use_model_calls_time_and_cost() -> None:
    view = view_of("redraft-loop-respond")
    assert view.model_calls == 4  # classify + three drafts (the CRM lookup is a tool)
    tight = case_with("redraft-loop-respond", budgets={"max_model_calls": 3})
    outcome = WithinBudgets().evaluate(tight, view, CTX)
    assert outcome.passed is False
    assert "model calls 4 > 3" in outcome.comment
    assert sum(view.cost().values(), Decimal(0)) == 0  # offline providers cost nothing


def test_llm_judge_is_skipped_without_a_judge_model() -> None:
    judge = LLMJudge(JudgeSpec(name="reply_correctness", prompt="correctness"))
    outcome = judge.evaluate(CASES["shipping-question"], view_of("shipping-question"), CTX)
    assert outcome.passed is None
    assert outcome.comment.startswith("skipped")
    assert "correct" in judge_prompt("correctness").lower()


def test_skipped_is_never_passed_in_a_case_result() -> None:
    evaluators = evaluators_for(SUITE)
    result = score_case(CASES["shipping-question"], view_of("shipping-question"), evaluators, CTX)
    judged = [o for o in result.outcomes if o.key.startswith("reply_")]
    assert judged and all(o.passed is None for o in judged)
    assert result.passed  # the deterministic ones pass; skipped ones do not count either way


def test_divergence_names_the_node_where_the_route_changed() -> None:
    expected = ["intake", "lookup", "decide", "draft"]
    assert divergence(expected, expected) is None
    assert divergence(expected, ["intake", "lookup", "escalate"]) == (
        "lookup",
        "after lookup: went to escalate, expected decide",
    )
    assert divergence(expected, ["intake", "lookup"])[0] == "lookup"  # type: ignore[index]


def test_suite_thresholds_and_judges() -> None:
    assert isinstance(SUITE, Suite)
    assert SUITE.threshold("reply_conciseness") == 0.8
    assert SUITE.threshold("status") == 1.0
    keys = {e.key for e in evaluators_for(SUITE)}
    assert {"status", "output", "trajectory", "thread_trajectory", "gates", "interrupts"} <= keys
    assert {"tool_calls", "failure", "budgets", "reply_correctness", "reply_conciseness"} <= keys


def test_llm_judge_runs_when_a_judge_model_is_configured(fake_chat_model: Any) -> None:
    """The scripted fake chat model (the only fake allowed) stands in for the judge model."""
    model = fake_chat_model(
        [tool_answer("score", {"reasoning": "states the facts", "score": True})]
    )
    judge = LLMJudge(
        JudgeSpec(name="reply_correctness", prompt="correctness", reference="expect.output")
    )
    context = ScoringContext(suite=SUITE, judge_model="fake:model")
    outcome = judge.evaluate(CASES["shipping-question"], view_of("shipping-question"), context)
    assert (outcome.passed, outcome.score, outcome.comment) == (True, 1.0, "states the facts")
    prompt = model.prompt_text(0)
    assert "Your parcel for order O-4 is on its way" in prompt  # the reply being judged
    assert "no_refund" in prompt  # the reference: the case's expected output

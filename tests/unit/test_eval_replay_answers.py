"""The replay provider: answers keyed by prompt hash, in order; unseen prompts are drift."""

from __future__ import annotations

from typing import Any

import pytest

from nodes.support.capabilities import DraftRequest, draft_prompt
from tests.helpers import PROJECT_ROOT
from waypoint.capabilities import registry
from waypoint.evals.model_calls import ReplayAnswers, ReplayDrift, call_key
from waypoint.evals.trace_format import read_trace

TRACES = PROJECT_ROOT / "evals" / "support" / "traces"


def draft_request(**changes: Any) -> DraftRequest:
    fields: dict[str, Any] = {
        "ticket_id": "T-1",
        "customer_name": "Ada Lovelace",
        "category": "refund",
        "outcome": "refund",
        "amount": "25.00",
        "currency": "USD",
        "order_id": "O-1",
        "attempt": 1,
    }
    return DraftRequest.model_validate({**fields, **changes})


def test_call_key_hashes_the_prompt() -> None:
    request = draft_request()
    key = call_key("draft_reply", request, draft_prompt(request))
    assert key == call_key("draft_reply", draft_request(), draft_prompt(draft_request()))
    other = draft_request(amount="26.00")
    assert key != call_key("draft_reply", other, draft_prompt(other))
    # the attempt number is not in the prompt, so it does not change the key
    second = draft_request(attempt=2)
    assert key == call_key("draft_reply", second, draft_prompt(second))
    # a capability without a prompt is keyed by its request
    assert call_key("crm_lookup", request, None) != key


def test_recorded_answers_are_served_in_order_then_the_last_again() -> None:
    trace = read_trace(TRACES / "redraft-loop-respond.jsonl")
    answers = ReplayAnswers.from_runs(trace.runs)
    drafts = [
        r for r in trace.runs if r["extra"]["metadata"].get("waypoint_capability") == "draft_reply"
    ]
    assert len(drafts) == 3
    first_key = drafts[0]["extra"]["metadata"]["waypoint_call_key"]
    served = answers.answer(registry, "draft_reply", first_key, "draft")
    assert served.text == drafts[0]["outputs"]["output"]["text"]
    repeat_key = drafts[1]["extra"]["metadata"]["waypoint_call_key"]
    assert repeat_key == drafts[2]["extra"]["metadata"]["waypoint_call_key"]  # same feedback
    for _ in range(3):
        assert answers.answer(registry, "draft_reply", repeat_key, "draft").text
    assert answers.served == 4
    assert answers.drifts == []


def test_an_unseen_prompt_is_drift_and_never_invented() -> None:
    answers = ReplayAnswers.from_runs(read_trace(TRACES / "auto-refund-small.jsonl").runs)
    with pytest.raises(ReplayDrift) as caught:
        answers.answer(registry, "draft_reply", "0" * 32, "draft")
    assert caught.value.node == "draft"
    assert isinstance(caught.value, LookupError)  # LangGraph's retry policy does not retry it
    assert [(d.node, d.capability) for d in answers.drifts] == [("draft", "draft_reply")]


def test_a_recorded_failure_is_raised_again_with_its_type() -> None:
    trace = read_trace(TRACES / "failure-model-abort.jsonl")
    answers = ReplayAnswers.from_runs(trace.runs)
    failed = next(
        r
        for r in trace.runs
        if r["extra"]["metadata"].get("waypoint_capability") == "classify_ticket"
    )
    with pytest.raises(ValueError, match="provider:model"):
        answers.answer(
            registry,
            "classify_ticket",
            failed["extra"]["metadata"]["waypoint_call_key"],
            "classify",
        )

"""Budgets, loop detection and the side-effect allowlist halt a run before its next node."""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.messages.tool import tool_call

from tests.helpers import FAKE_MODEL, FakeModelInstaller, count, demo_input, reply, run
from waypoint.audit import thread_audit
from waypoint.capabilities import registry
from waypoint.errors import Halted
from waypoint.guards import Budgets, RunGuard
from waypoint.policy import operator_policy
from waypoint.runner import ThreadReport, resume_thread, start_run


def _with_usage(name: str, args: dict[str, Any], tokens: int) -> AIMessage:
    return AIMessage(
        content="",
        tool_calls=[tool_call(name=name, args=args, id=f"call-{uuid.uuid4().hex[:6]}")],
        usage_metadata={
            "input_tokens": tokens - 10,
            "output_tokens": 10,
            "total_tokens": tokens,
        },
    )


def _start(db_url: str, case: str, budgets: dict[str, Any], **context: Any) -> ThreadReport:
    ticket = demo_input(case, ticket_id=f"T-{uuid.uuid4().hex[:6]}")
    return run(start_run("support", ticket, db_url=db_url, context={"budgets": budgets, **context}))


def _halt(report: ThreadReport) -> dict[str, Any]:
    assert report.status == "halted", report.values
    assert report.exit_code == 4
    return dict(report.values["halt"])


def test_step_budget_halts_before_the_next_node(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        report = _start(db_url, "auto refund", {"steps": 3})
    # the halt is not logged as a failing callback (LangChain logs what callbacks raise)
    assert not [r for r in caplog.records if "callback" in r.getMessage()], caplog.text
    halt = _halt(report)
    assert halt["kind"] == "budget" and halt["node"] == "lookup"
    assert "lookup" not in str(report.values.get("lookup"))  # lookup never ran
    assert count(db_url, "support_payments", report.thread_id) == 0


def test_model_call_budget(db_url: str) -> None:
    halt = _halt(_start(db_url, "auto refund", {"model_calls": 0}))
    assert halt["kind"] == "budget" and "model-call" in halt["reason"]
    assert halt["node"] == "classification_gate"


def _classified(tokens: int) -> list[AIMessage]:
    args = {"category": "refund", "confidence": 0.9, "rationale": "broken mug"}
    return [_with_usage("Classification", args, tokens)]


PRICED_MODEL = "openai:gpt-4o"
"""A model genai-prices knows (the fake answers for it: the factory is the test's)."""


def test_a_budget_refuses_a_call_whose_worst_case_would_cross_it(
    db_url: str, fake_chat_model: FakeModelInstaller
) -> None:
    """Checked before the call, with the prompt and the model's whole output allowance."""
    model = fake_chat_model(_classified(500))
    halt = _halt(_start(db_url, "auto refund", {"tokens": 100}, model=FAKE_MODEL))
    assert halt["kind"] == "budget" and halt["node"] == "classify"
    assert "token budget 100: 0 used and a call to fake:model may use up to" in halt["reason"]
    assert model.prompts == []  # the model was never called

    model = fake_chat_model(_classified(500))
    halt = _halt(_start(db_url, "auto refund", {"cost_usd": "0.000001"}, model=PRICED_MODEL))
    assert halt["kind"] == "budget" and halt["node"] == "classify"
    assert f"0 spent and a call to {PRICED_MODEL} may cost up to" in halt["reason"]
    assert model.prompts == []

    model = fake_chat_model(_classified(500))
    halt = _halt(_start(db_url, "auto refund", {"cost_usd": "5"}, model=FAKE_MODEL))
    assert "no price is known for fake:model" in halt["reason"]
    assert model.prompts == []


def test_a_priced_call_is_recorded_at_its_price(
    db_url: str, fake_chat_model: FakeModelInstaller
) -> None:
    from genai_prices import Usage, calc_price

    fake_chat_model(_classified(1000))  # 990 in, 10 out; the draft falls back offline
    report = _start(db_url, "auto refund", {"cost_usd": "1.00"}, model=PRICED_MODEL)
    story = run(thread_audit(report.thread_id, db_url=db_url))
    [classify] = [r for r in story["invocations"] if r["node"] == "classify"]
    expected = calc_price(
        Usage(input_tokens=990, output_tokens=10), model_ref="gpt-4o", provider_id="openai"
    ).total_price
    assert classify["tokens"] == 1000
    assert Decimal(classify["cost_usd"]) == Decimal(str(expected)).quantize(Decimal("0.000001"))
    assert Decimal(classify["cost_usd"]) > 0

    registry.usd_per_1k_tokens[FAKE_MODEL] = Decimal("2.00")  # a workflow's own price wins
    try:
        fake_chat_model(_classified(500))
        table = _start(db_url, "auto refund", {"cost_usd": "100"}, model=FAKE_MODEL)
    finally:
        registry.usd_per_1k_tokens.pop(FAKE_MODEL)
    story = run(thread_audit(table.thread_id, db_url=db_url))
    [classify] = [r for r in story["invocations"] if r["node"] == "classify"]
    assert Decimal(classify["cost_usd"]) == Decimal("1.000000")


def test_revise_loop_past_its_bound_is_caught(
    db_url: str, fake_chat_model: FakeModelInstaller
) -> None:
    wrong = reply("Ada Lovelace", "T-x", "99.00")  # never the right ticket or amount
    fake_chat_model(
        [
            _with_usage(
                "Classification",
                {"category": "refund", "confidence": 0.9, "rationale": "broken"},
                20,
            )
        ]
        + [_with_usage("DraftText", {"text": wrong}, 20) for _ in range(6)]
    )
    with operator_policy("support", {"max_draft_revisions": 5}):
        report = _start(
            db_url, "auto refund", {"node_visits": 2}, model=FAKE_MODEL, max_draft_revisions=5
        )
    halt = _halt(report)
    assert halt["kind"] == "loop" and halt["node"] == "draft"
    assert len(report.values["review_verdicts"]) == 2


def test_side_effect_allowlist(db_url: str) -> None:
    report = _start(db_url, "auto refund", {"side_effects": ["support.reply"]})
    halt = _halt(report)
    assert halt["kind"] == "side_effect" and "support.payment" in halt["reason"]
    assert count(db_url, "support_payments", report.thread_id) == 0
    assert count(db_url, "support_outbox", report.thread_id) == 0


def test_halted_thread_needs_an_override_which_is_recorded(db_url: str) -> None:
    report = _start(db_url, "auto refund", {"steps": 3})
    with pytest.raises(Halted, match="--override"):
        run(resume_thread(report.thread_id, db_url=db_url))
    done = run(resume_thread(report.thread_id, db_url=db_url, override="budget raised by ops"))
    assert done.status == "completed"
    assert count(db_url, "support_payments", report.thread_id) == 1
    story = run(thread_audit(report.thread_id, db_url=db_url))
    assert [o["reason"] for o in story["overrides"]] == ["budget raised by ops"]
    assert story["overrides"][0]["actor"]


def test_same_node_with_the_same_state_is_a_loop() -> None:
    guard = RunGuard(Budgets())
    assert guard.before_node("draft", "abc") is None
    assert guard.before_node("review_gate", "def") is None
    halt = guard.before_node("draft", "abc")
    assert halt is not None and halt.kind == "loop" and "same state" in halt.reason
    assert guard.before_node("draft", "abd") is None

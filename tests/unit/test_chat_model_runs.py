"""Whole `support` runs served by a chat model (a scripted fake; the only fake in the suite).

They prove that the prompts are built from the state, that the model's tool-call arguments are
parsed and validated before they enter the state, that a broken answer takes the failure path,
and that the review gate sends a wrong draft back to the writer a bounded number of times.
Runs go through the real runner, LangGraph and an SQLite file.
"""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

import pytest

from graphs.support import MODEL_RETRY
from tests.helpers import (
    FAKE_MODEL,
    FakeModelInstaller,
    classification,
    count,
    demo_input,
    draft_text,
    reply,
    rows,
    run,
    thread_row,
)
from waypoint.errors import BadInput
from waypoint.runner import EXIT_CODES, ThreadReport, resume_thread, start_run

GOOD_DRAFT = reply("Ada Lovelace", "T-1001", "25.00")
WRONG_AMOUNT = reply("Ada Lovelace", "T-1001", "250.00")


def start(db_url: str, case: str = "auto refund", **context: Any) -> ThreadReport:
    thread = f"model-{uuid.uuid4().hex[:10]}"
    return run(
        start_run(
            "support",
            demo_input(case),
            thread_id=thread,
            db_url=db_url,
            context={"model": FAKE_MODEL, **context},
        )
    )


def test_model_backed_run_builds_prompts_and_uses_the_parsed_answers(
    sqlite_url: str, fake_chat_model: FakeModelInstaller
) -> None:
    model = fake_chat_model(
        [classification("refund", 0.95, "the mug is broken"), draft_text(GOOD_DRAFT)]
    )
    report = start(sqlite_url)

    assert report.status == "completed" and report.exit_code == 0
    # the classifier's tool-call args, validated, are the state's classification
    assert report.values["classification"] == {
        "category": "refund",
        "confidence": 0.95,
        "rationale": "the mug is broken",
    }
    assert report.values["classification_verdict"]["score"] == 0.95
    # the writer's tool-call args are the draft, and that draft is what was sent
    assert report.values["draft"] == {"text": GOOD_DRAFT, "attempt": 1}
    outbox = rows(sqlite_url, "support_outbox", report.thread_id)
    assert [row["body"] for row in outbox] == [GOOD_DRAFT]
    payments = rows(sqlite_url, "support_payments", report.thread_id)
    assert [row["amount"] for row in payments] == ["25.00"]

    # one model call per capability, each bound to its output model alone, a tool call forced
    assert model.tool_choices == ["any", "any"]
    assert [tool.__name__ for tool in model.bound_tools] == ["Classification", "DraftText"]
    classify_prompt = model.prompt_text(0)
    assert "Call the Classification tool" in classify_prompt
    assert "My mug arrived broken. I would like a refund, please." in classify_prompt
    assert "Order id given: yes" in classify_prompt
    draft_prompt = model.prompt_text(1)
    assert "Call the DraftText tool" in draft_prompt
    for fact in (
        "ticket: T-1001",
        "customer name: Ada Lovelace",
        "outcome: refund",
        "amount: 25.00 USD",
        "order: O-1",
    ):
        assert fact in draft_prompt
    assert "failed review" not in draft_prompt


def test_model_answering_json_text_instead_of_a_tool_call_works(
    sqlite_url: str, fake_chat_model: FakeModelInstaller
) -> None:
    fake_chat_model(
        [
            '{"category": "shipping", "confidence": "0.8", "rationale": "asks for tracking"}',
            f'Here is the reply: {{"text": {json.dumps(reply("Ada Lovelace", "T-1005", None))}}}',
        ]
    )
    report = start(sqlite_url, "shipping question")
    assert report.status == "completed"
    assert report.values["classification"]["confidence"] == 0.8  # "0.8" validated into a number
    assert report.values["resolution"]["kind"] == "replied"
    assert count(sqlite_url, "support_payments", report.thread_id) == 0
    assert count(sqlite_url, "support_outbox", report.thread_id) == 1


def test_unsure_model_sends_the_ticket_to_human_triage(
    sqlite_url: str, fake_chat_model: FakeModelInstaller
) -> None:
    model = fake_chat_model([classification("refund", 0.3, "not sure")])
    report = start(sqlite_url)
    assert report.status == "waiting"
    assert [pending.node for pending in report.interrupts] == ["human_triage"]
    verdict = report.values["classification_verdict"]
    assert verdict == {
        "gate": "classification",
        "passed": False,
        "reasons": ["confidence 0.30 below threshold 0.60"],
        "score": 0.3,
    }
    assert len(model.prompts) == 1  # no draft was asked for
    assert "lookup" not in report.values or report.values["lookup"] is None


def _recovery(report: ThreadReport) -> dict[str, Any]:
    assert report.status == "waiting" and report.exit_code == 3
    (pending,) = report.interrupts
    action = pending.value["action_requests"][0]
    assert action["name"] == "recover_node"
    return dict(action["args"])


def test_invalid_classification_escalates_to_a_human_then_aborts(
    sqlite_url: str, fake_chat_model: FakeModelInstaller
) -> None:
    model = fake_chat_model(itertools.repeat(classification("refund", 7)))
    report = start(sqlite_url)

    # classify's ladder: 3 attempts (a contract breach is retried), no other provider, a human
    args = _recovery(report)
    assert args["node"] == "classify" and args["error_type"] == "CapabilityContractError"
    assert "classify_ticket" in args["message"] and "confidence" in args["message"]
    assert args["skip_to"] == "classification_gate"
    assert len(model.prompts) == MODEL_RETRY.max_attempts
    # the invalid answer never entered the state, and nothing after classify ran
    assert report.values.get("classification") is None
    assert report.values.get("lookup") is None

    aborted = run(
        resume_thread(
            report.thread_id,
            {"decisions": [{"type": "reject", "message": "model is broken"}]},
            db_url=sqlite_url,
        )
    )
    assert aborted.status == "halted" and aborted.exit_code == 4 == EXIT_CODES["halted"]
    assert aborted.values["halt"] == {
        "kind": "aborted",
        "reason": "model is broken",
        "node": "classify",
        "by": None,
    }
    row = thread_row(sqlite_url, report.thread_id)
    assert row is not None and row["status"] == "halted"
    assert count(sqlite_url, "support_payments", report.thread_id) == 0


def test_a_human_skips_the_broken_classifier_with_a_category(
    sqlite_url: str, fake_chat_model: FakeModelInstaller
) -> None:
    fake_chat_model(
        itertools.chain(
            [classification("refund", 7)] * MODEL_RETRY.max_attempts,
            [draft_text(GOOD_DRAFT)],
        )
    )
    report = start(sqlite_url)
    _recovery(report)
    skipped = run(
        resume_thread(
            report.thread_id,
            {
                "decisions": [
                    {
                        "type": "edit",
                        "edited_action": {"name": "recover_node", "args": {"category": "refund"}},
                    }
                ]
            },
            db_url=sqlite_url,
        )
    )
    assert skipped.status == "completed"
    assert skipped.values["classification"]["rationale"] == "set by a human after classify failed"
    assert count(sqlite_url, "support_payments", report.thread_id) == 1


def test_retry_after_the_model_is_fixed_continues_from_the_failed_node(
    sqlite_url: str, fake_chat_model: FakeModelInstaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    # three broken answers open the provider's breaker; no cool-down, so the retry is its probe
    monkeypatch.setenv("WAYPOINT_BREAKER_COOLDOWN", "0")
    fake_chat_model(itertools.repeat(classification("refund", 7)))
    waiting = start(sqlite_url)
    _recovery(waiting)

    fixed = fake_chat_model([classification("refund", 0.9), draft_text(GOOD_DRAFT)])
    after = run(
        resume_thread(waiting.thread_id, {"decisions": [{"type": "approve"}]}, db_url=sqlite_url)
    )
    assert after.status == "completed"
    assert after.values.get("failure") is None
    assert after.values["resolution"]["kind"] == "refunded"
    assert [t.__name__ for t in fixed.bound_tools] == ["Classification", "DraftText"]  # again
    assert count(sqlite_url, "support_payments", waiting.thread_id) == 1


def test_unparsable_draft_escalates_at_draft(
    sqlite_url: str, fake_chat_model: FakeModelInstaller
) -> None:
    model = fake_chat_model(
        itertools.chain([classification("refund", 0.9)], itertools.repeat("Dear customer, sorry."))
    )
    report = start(sqlite_url)
    args = _recovery(report)
    assert args["node"] == "draft" and args["error_type"] == "StructuredOutputError"
    assert report.values.get("draft") is None
    assert len(model.prompts) >= 2
    assert count(sqlite_url, "support_outbox", report.thread_id) == 0


def test_review_gate_sends_a_wrong_draft_back_once(
    sqlite_url: str, fake_chat_model: FakeModelInstaller
) -> None:
    model = fake_chat_model(
        [classification("refund", 0.9), draft_text(WRONG_AMOUNT), draft_text(GOOD_DRAFT)]
    )
    report = start(sqlite_url)

    assert report.status == "completed"
    verdicts = report.values["review_verdicts"]
    assert [v["passed"] for v in verdicts] == [False, True]
    assert verdicts[0]["reasons"] == [
        "must say 'refund of 25.00 USD'",
        "mentions other amounts: 250.00",
    ]
    assert report.values["draft"] == {"text": GOOD_DRAFT, "attempt": 2}
    # the redraft prompt carries the reviewer's feedback
    redraft_prompt = model.prompt_text(2)
    assert "The last draft failed review" in redraft_prompt
    assert "- must say 'refund of 25.00 USD'" in redraft_prompt
    assert "- mentions other amounts: 250.00" in redraft_prompt
    # the wrong draft was never sent; the right one was, with the right payment
    assert [r["body"] for r in rows(sqlite_url, "support_outbox", report.thread_id)] == [GOOD_DRAFT]
    assert [r["amount"] for r in rows(sqlite_url, "support_payments", report.thread_id)] == [
        "25.00"
    ]


def test_a_writer_that_is_always_wrong_ends_at_a_human_who_cannot_just_approve(
    sqlite_url: str, fake_chat_model: FakeModelInstaller
) -> None:
    model = fake_chat_model(
        itertools.chain([classification("refund", 0.9)], itertools.repeat(draft_text(WRONG_AMOUNT)))
    )
    report = start(sqlite_url)

    assert report.status == "waiting"
    assert [pending.node for pending in report.interrupts] == ["approval"]
    # first draft + max_draft_revisions (default 2) redrafts
    assert len(model.tool_choices) == 1 + 3
    assert [v["passed"] for v in report.values["review_verdicts"]] == [False, False, False]
    request = report.interrupts[0].value
    assert request["review_configs"][0]["allowed_decisions"] == ["edit", "reject", "respond"]
    description = request["action_requests"][0]["description"]
    assert "the draft failed review 3 time(s)" in description
    assert "review failed" in description
    assert count(sqlite_url, "support_payments", report.thread_id) == 0
    assert count(sqlite_url, "support_outbox", report.thread_id) == 0

    # approving is refused; a human-written reply goes out with the policy's refund
    with pytest.raises(
        BadInput, match=r"decisions\[0\].type: expected one of edit, reject, respond"
    ):
        run(
            resume_thread(report.thread_id, {"decisions": [{"type": "approve"}]}, db_url=sqlite_url)
        )
    answer = {
        "decisions": [
            {
                "type": "edit",
                "edited_action": {"name": "issue_refund", "args": {"reply": GOOD_DRAFT}},
            }
        ]
    }
    done = run(resume_thread(report.thread_id, answer, db_url=sqlite_url))
    assert done.status == "completed"
    assert [r["body"] for r in rows(sqlite_url, "support_outbox", report.thread_id)] == [GOOD_DRAFT]
    assert [r["amount"] for r in rows(sqlite_url, "support_payments", report.thread_id)] == [
        "25.00"
    ]


def test_max_draft_revisions_comes_from_the_run_context(
    sqlite_url: str, fake_chat_model: FakeModelInstaller
) -> None:
    model = fake_chat_model(
        itertools.chain([classification("refund", 0.9)], itertools.repeat(draft_text(WRONG_AMOUNT)))
    )
    report = start(sqlite_url, max_draft_revisions=0)
    assert report.status == "waiting"
    assert len(model.tool_choices) == 2  # classify + one draft, no redraft
    assert len(report.values["review_verdicts"]) == 1
    allowed = report.interrupts[0].value["review_configs"][0]["allowed_decisions"]
    assert "approve" not in allowed

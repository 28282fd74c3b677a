"""Answers to every human step, through the runner, on SQLite and the real Postgres.

Each answer is checked against the request; an accepted one moves the thread on, and the side
effects that follow are counted in the database.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langgraph.types import Command

from state.support import SupportContext
from tests.helpers import demo_input, footprint, rows, run
from waypoint.errors import BadInput
from waypoint.persistence.stores import open_stores
from waypoint.policy import operator_policy
from waypoint.runner import ThreadReport, resume_thread, start_run
from waypoint.workflows import load_workflow


def start(db_url: str, ticket: dict[str, Any], **context: Any) -> ThreadReport:
    thread = f"hitl-{uuid.uuid4().hex[:12]}"
    return run(start_run("support", ticket, thread_id=thread, db_url=db_url, context=context))


def answer(db_url: str, report: ThreadReport, *decisions: dict[str, Any]) -> ThreadReport:
    return run(resume_thread(report.thread_id, {"decisions": list(decisions)}, db_url=db_url))


def edit(action: str, **args: Any) -> dict[str, Any]:
    return {"type": "edit", "edited_action": {"name": action, "args": args}}


def payments(db_url: str, report: ThreadReport) -> list[str]:
    return [row["amount"] for row in rows(db_url, "support_payments", report.thread_id)]


def outbox(db_url: str, report: ThreadReport) -> list[dict[str, Any]]:
    return rows(db_url, "support_outbox", report.thread_id)


def test_reject_closes_the_ticket_and_writes_nothing(db_url: str) -> None:
    waiting = start(db_url, demo_input("approval needed"))
    done = answer(db_url, waiting, {"type": "reject", "message": "Not covered by warranty"})
    assert done.status == "completed" and done.exit_code == 0
    assert done.values["resolution"]["kind"] == "rejected"
    assert done.values["human"]["decision"] == "reject"
    assert done.values["human"]["message"] == "Not covered by warranty"
    assert payments(db_url, done) == []
    assert outbox(db_url, done) == []


def test_edited_amount_is_redrafted_reviewed_and_paid(db_url: str) -> None:
    waiting = start(db_url, demo_input("approval needed"))
    done = answer(db_url, waiting, edit("issue_refund", amount="200"))
    assert done.status == "completed"
    values = done.values
    assert values["human"]["edited_args"] == {"amount": "200.00"}
    assert values["decision"]["amount"] == "200.00"
    assert values["decision"]["rule"].endswith("amount edited by a human")
    assert not values["decision"]["needs_approval"]
    # the reply was written again for the new amount and passed review again
    assert [v["passed"] for v in values["review_verdicts"]] == [True, True]
    assert "refund of 200.00 USD" in values["draft"]["text"]
    assert payments(db_url, done) == ["200.00"]
    sent = outbox(db_url, done)
    assert len(sent) == 1 and "refund of 200.00 USD" in sent[0]["body"]
    assert "480.00" not in sent[0]["body"]
    assert values["resolution"]["refund_amount"] == "200.00"


def test_edited_amount_above_the_order_total_is_refused_and_nothing_changes(db_url: str) -> None:
    waiting = start(db_url, demo_input("approval needed"))
    before = footprint(db_url, waiting.thread_id)
    with pytest.raises(BadInput) as refused:
        answer(db_url, waiting, edit("issue_refund", amount="480.01"))
    assert refused.value.field == "edited_action.args.amount"
    assert "at most 480.0" in str(refused.value)
    after = footprint(db_url, waiting.thread_id)
    assert after == before
    assert after["payments"] == 0
    # still waiting at the same question, which can still be answered
    done = answer(db_url, waiting, {"type": "approve"})
    assert payments(db_url, done) == ["480.00"]


def test_edited_reply_is_sent_as_written(db_url: str) -> None:
    waiting = start(db_url, demo_input("approval needed"))
    text = "Hello Grace Hopper, your refund of 480.00 USD for ticket T-1002 is on its way."
    done = answer(db_url, waiting, edit("issue_refund", reply=text))
    assert done.status == "completed"
    assert [row["body"] for row in outbox(db_url, done)] == [text]
    assert payments(db_url, done) == ["480.00"]


def test_respond_sends_the_humans_words_and_pays_nothing(db_url: str) -> None:
    waiting = start(db_url, demo_input("approval needed"))
    words = "We will call you tomorrow about the chair."
    done = answer(db_url, waiting, {"type": "respond", "message": words})
    assert done.status == "completed"
    assert done.values["resolution"]["kind"] == "closed_by_human"
    assert done.values["resolution"]["payment_id"] is None
    sent = outbox(db_url, done)
    assert [(row["body"], row["recipient"]) for row in sent] == [(words, "grace@example.com")]
    assert payments(db_url, done) == []


def test_answer_records_who_answered(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    waiting = start(db_url, demo_input("fraud-flagged customer"))
    monkeypatch.setenv("WAYPOINT_ACTOR", "reviewer-7")
    done = answer(db_url, waiting, {"type": "approve"})
    assert done.values["human"]["answered_by"] == "reviewer-7"
    assert payments(db_url, done) == ["60.00"]


def test_escalation_answered_by_a_human_reply(db_url: str) -> None:
    waiting = start(db_url, demo_input("unknown customer"))
    words = "We could not find your account; please reply with your order e-mail."
    done = answer(db_url, waiting, {"type": "respond", "message": words})
    assert done.status == "completed"
    sent = outbox(db_url, done)
    assert [(row["body"], row["recipient"]) for row in sent] == [(words, "customer:C-999")]
    assert payments(db_url, done) == []
    assert done.values["human"]["step"] == "escalation"


def test_escalation_rejected(db_url: str) -> None:
    waiting = start(db_url, demo_input("unknown customer"))
    done = answer(db_url, waiting, {"type": "reject"})
    assert done.values["resolution"]["kind"] == "rejected"
    assert footprint(db_url, done.thread_id)["outbox"] == 0


def test_escalation_cannot_be_approved(db_url: str) -> None:
    waiting = start(db_url, demo_input("unknown customer"))
    before = footprint(db_url, waiting.thread_id)
    with pytest.raises(BadInput) as refused:
        answer(db_url, waiting, {"type": "approve"})
    assert refused.value.field == "decisions[0].type"
    assert "expected one of respond, reject" in str(refused.value)
    assert footprint(db_url, waiting.thread_id) == before


def test_triage_confirmed_category_goes_on(db_url: str) -> None:
    waiting = start(db_url, demo_input("unintelligible message"))
    done = answer(db_url, waiting, {"type": "approve"})
    assert done.status == "completed"
    assert done.values["classification"] == {
        "category": "other",
        "confidence": 1.0,
        "rationale": "set by a human at triage (other)",
    }
    assert done.values["resolution"]["kind"] == "replied"
    assert len(outbox(db_url, done)) == 1 and payments(db_url, done) == []


def test_triage_corrected_to_refund_without_order_is_escalated(db_url: str) -> None:
    waiting = start(db_url, demo_input("unintelligible message"))
    after = answer(db_url, waiting, edit("triage_ticket", category="refund"))
    assert after.status == "waiting"
    assert [p.node for p in after.interrupts] == ["escalate"]
    assert after.values["lookup"]["problems"] == ["refund requested without an order id"]
    assert payments(db_url, after) == []


def test_triage_edit_with_an_unknown_category_is_refused(db_url: str) -> None:
    waiting = start(db_url, demo_input("unintelligible message"))
    with pytest.raises(BadInput) as refused:
        answer(db_url, waiting, edit("triage_ticket", category="complaint"))
    assert refused.value.field == "edited_action.args.category"


def test_triage_respond_and_reject(db_url: str) -> None:
    responded = answer(
        db_url,
        start(db_url, demo_input("unintelligible message")),
        {"type": "respond", "message": "Could you tell us more?"},
    )
    assert [row["body"] for row in outbox(db_url, responded)] == ["Could you tell us more?"]
    assert responded.values["resolution"]["kind"] == "closed_by_human"
    rejected = answer(
        db_url, start(db_url, demo_input("unintelligible message")), {"type": "reject"}
    )
    assert rejected.values["resolution"]["kind"] == "rejected"
    assert outbox(db_url, rejected) == []


def test_refund_of_an_already_refunded_order_is_denied_without_payment(db_url: str) -> None:
    ticket = {
        "ticket_id": "T-2001",
        "customer_id": "C-400",
        "order_id": "O-5",
        "message": "Please refund my order.",
    }
    done = start(db_url, ticket)
    assert done.status == "completed"
    assert done.values["decision"]["outcome"] == "deny"
    assert "unable to refund" in outbox(db_url, done)[0]["body"]
    assert payments(db_url, done) == []


def test_refund_for_another_customers_order_is_escalated(db_url: str) -> None:
    ticket = demo_input("auto refund", order_id="O-2")  # O-2 belongs to C-200
    waiting = start(db_url, ticket)
    assert [p.node for p in waiting.interrupts] == ["escalate"]
    assert waiting.values["lookup"]["problems"] == ["order O-2 belongs to another customer"]
    assert waiting.values["lookup"]["order"] is None
    assert payments(db_url, waiting) == []


def test_ids_and_message_are_normalised_at_intake(db_url: str) -> None:
    ticket = demo_input(
        "auto refund",
        customer_id=" c-100 ",
        order_id="o-1",
        message="My mug\n\n arrived   broken. Refund!",
    )
    done = start(db_url, ticket)
    assert done.status == "completed"
    assert (done.values["customer_id"], done.values["order_id"]) == ("C-100", "O-1")
    assert done.values["message"] == "My mug arrived broken. Refund!"
    assert payments(db_url, done) == ["25.00"]


def test_approval_threshold_comes_from_the_run_context(db_url: str) -> None:
    waiting = start(db_url, demo_input("auto refund"), approval_threshold="10.00")
    assert [p.node for p in waiting.interrupts] == ["approval"]
    assert "above the approval threshold 10.00" in str(waiting.interrupts[0].value)
    with operator_policy("support", {"approval_threshold": "500"}):  # only operators raise it
        relaxed = start(db_url, demo_input("approval needed"), approval_threshold="500")
    assert relaxed.status == "completed"
    assert payments(db_url, relaxed) == ["480.00"]


def test_classification_threshold_comes_from_the_run_context(db_url: str) -> None:
    strict = start(db_url, demo_input("shipping question"), classification_threshold=0.9)
    assert [p.node for p in strict.interrupts] == ["human_triage"]
    assert strict.values["classification_verdict"]["reasons"] == [
        "confidence 0.85 below threshold 0.90"
    ]
    with operator_policy("support", {"classification_threshold": 0.2}):
        lenient = start(db_url, demo_input("unintelligible message"), classification_threshold=0.2)
    assert lenient.status == "completed"  # 0.20 >= 0.20: the gate passes at the threshold
    assert lenient.values["classification_verdict"]["passed"] is True
    assert lenient.values["resolution"]["kind"] == "replied"


def test_answer_sent_straight_to_langgraph_is_still_checked(db_url: str) -> None:
    """Studio / SDK users resume with LangGraph directly: a refused answer re-asks, pays nothing."""
    waiting = start(db_url, demo_input("approval needed"))
    thread = waiting.thread_id

    async def resume_directly(value: Any) -> Any:
        async with open_stores(db_url) as stores:
            graph = load_workflow("support").compile(stores.checkpointer)
            config: Any = {"configurable": {"thread_id": thread}}
            await graph.ainvoke(Command(resume=value), config, context=SupportContext())
            return await graph.aget_state(config)

    too_much = {"decisions": [edit("issue_refund", amount="9999")]}
    snapshot = run(resume_directly(too_much))
    assert snapshot.next == ("approval",)
    (pending,) = [i for task in snapshot.tasks for i in task.interrupts]
    description = pending.value["action_requests"][0]["description"]
    assert (
        "Previous answer refused: edited_action.args.amount: must be at most 480.0" in description
    )
    assert payments(db_url, waiting) == []

    snapshot = run(resume_directly({"decisions": [{"type": "approve"}]}))
    assert snapshot.next == ()
    assert snapshot.values["resolution"]["kind"] == "refunded"
    assert payments(db_url, waiting) == ["480.00"]

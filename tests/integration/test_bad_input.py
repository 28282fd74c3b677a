"""Bad input through the runner on SQLite and Postgres: `BadInput` naming the field, no writes.

The command line maps `BadInput` to exit 2 (see `tests/e2e/test_cli_bad_input.py`); here the
whole matrix runs in-process, which is fast enough to try every field on both backends.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.helpers import demo_input, footprint, is_sqlite, run, sqlite_path
from waypoint.errors import BadInput
from waypoint.persistence.urls import parse_db_url
from waypoint.runner import resume_thread, start_run, thread_status

NOTHING = {"checkpoints": 0, "payments": 0, "outbox": 0, "effects": 0, "thread": None}


def ticket(**changes: Any) -> dict[str, Any]:
    return demo_input("auto refund", **changes)


def without(key: str) -> dict[str, Any]:
    found = ticket()
    del found[key]
    return found


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        (without("customer_id"), "customer_id", "input.customer_id: Field required"),
        (without("ticket_id"), "ticket_id", "input.ticket_id: Field required"),
        (without("message"), "message", "input.message: Field required"),
        (ticket(message=5), "message", "input.message: Input should be a valid string (got 5)"),
        (ticket(message=""), "message", "input.message: String should have at least 1 character"),
        (ticket(message=" \n\t "), "message", "at least 1 character"),
        (ticket(message="x" * 10_001), "message", "at most 10000 characters"),
        (
            ticket(customer_id=None),
            "customer_id",
            "input.customer_id: Input should be a valid string",
        ),
        (ticket(order_id=17), "order_id", "input.order_id"),
        (
            ticket(priority="high"),
            "priority",
            "input.priority: unknown field (expected one of ticket_id, customer_id, message, "
            "order_id)",
        ),
        ([ticket()], "input", "input: expected a JSON object, got list"),
        ("T-1", "input", "input: expected a JSON object, got str"),
        (None, "input", "input: expected a JSON object, got NoneType"),
    ],
)
def test_invalid_ticket_is_refused_before_anything_is_written(
    db_url: str, raw: Any, field: str, words: str
) -> None:
    thread = f"bad-{uuid.uuid4().hex[:12]}"
    with pytest.raises(BadInput) as refused:
        run(start_run("support", raw, thread_id=thread, db_url=db_url))
    assert refused.value.field == field
    assert words in str(refused.value)
    assert refused.value.exit_code == 2
    assert footprint(db_url, thread) == NOTHING
    if is_sqlite(db_url):
        assert not sqlite_path(db_url).exists()


@pytest.mark.parametrize(
    ("context", "field"),
    [
        ({"approval_threshold": -1}, "approval_threshold"),
        ({"approval_threshold": "lots"}, "approval_threshold"),
        ({"classification_threshold": 1.5}, "classification_threshold"),
        ({"max_draft_revisions": 11}, "max_draft_revisions"),
        ({"temperature": 0}, "temperature"),
    ],
)
def test_invalid_run_context_is_refused(db_url: str, context: dict[str, Any], field: str) -> None:
    thread = f"bad-{uuid.uuid4().hex[:12]}"
    with pytest.raises(BadInput) as refused:
        run(start_run("support", ticket(), thread_id=thread, db_url=db_url, context=context))
    assert refused.value.field == field
    assert f"context.{field}" in str(refused.value)
    assert footprint(db_url, thread) == NOTHING


def test_unknown_graph_and_blank_thread_are_refused(db_url: str) -> None:
    with pytest.raises(BadInput) as unknown:
        run(start_run("billing", ticket(), db_url=db_url))
    assert unknown.value.field == "graph"
    assert "expected one of research, support" in str(unknown.value)
    with pytest.raises(BadInput) as blank:
        run(start_run("support", ticket(), thread_id="   ", db_url=db_url))
    assert blank.value.field == "thread"
    if is_sqlite(db_url):
        assert not sqlite_path(db_url).exists()


def test_unsupported_database_url_is_bad_input() -> None:
    with pytest.raises(BadInput) as refused:
        parse_db_url("mysql://localhost/x")
    assert refused.value.field == "db"
    with pytest.raises(BadInput, match="sqlite:///PATH"):
        run(start_run("support", ticket(), db_url="mysql://localhost/x"))


def test_a_thread_id_cannot_be_started_twice(db_url: str) -> None:
    thread = f"dup-{uuid.uuid4().hex[:12]}"
    first = run(start_run("support", ticket(), thread_id=thread, db_url=db_url))
    assert first.status == "completed"
    before = footprint(db_url, thread)
    with pytest.raises(BadInput) as refused:
        run(start_run("support", ticket(), thread_id=thread, db_url=db_url))
    assert refused.value.field == "thread"
    assert f"waypoint resume {thread}" in str(refused.value)
    assert footprint(db_url, thread) == before
    assert before["payments"] == 1


def test_resuming_an_unknown_thread_is_refused(db_url: str) -> None:
    thread = f"nope-{uuid.uuid4().hex[:12]}"
    with pytest.raises(BadInput) as refused:
        run(resume_thread(thread, {"decisions": [{"type": "approve"}]}, db_url=db_url))
    assert refused.value.field == "thread"
    assert f"no thread {thread!r}" in str(refused.value)
    with pytest.raises(BadInput):
        run(resume_thread(thread, db_url=db_url))
    assert footprint(db_url, thread) == NOTHING


def test_status_of_an_unknown_thread_is_refused(db_url: str) -> None:
    thread = f"nope-{uuid.uuid4().hex[:12]}"
    with pytest.raises(BadInput) as refused:
        run(thread_status(thread, db_url=db_url))
    assert refused.value.field == "thread"
    assert footprint(db_url, thread) == NOTHING


def waiting(db_url: str, case: str) -> str:
    thread = f"wait-{uuid.uuid4().hex[:12]}"
    report = run(start_run("support", demo_input(case), thread_id=thread, db_url=db_url))
    assert report.status in ("waiting", "completed")
    return thread


def edit(action: str, args: Any) -> dict[str, Any]:
    return {"decisions": [{"type": "edit", "edited_action": {"name": action, "args": args}}]}


@pytest.mark.parametrize(
    ("case", "answer", "field", "words"),
    [
        (
            "auto refund",
            {"decisions": [{"type": "approve"}]},
            "thread",
            "is completed, not waiting",
        ),
        ("auto refund", None, "thread", "already completed"),
        ("approval needed", None, "decision", "waiting for a human at approval"),
        (
            "unknown customer",
            {"decisions": [{"type": "approve"}]},
            "decisions[0].type",
            "respond, reject",
        ),
        ("unknown customer", edit("handle_ticket", {}), "decisions[0].type", "'edit'"),
        (
            "approval needed",
            {"decisions": [{"type": "respond", "message": ""}]},
            "decisions[0].message",
            "reply text",
        ),
        (
            "approval needed",
            {"decisions": [{"type": "respond", "message": "  "}]},
            "decisions[0].message",
            "reply text",
        ),
        ("approval needed", {"decisions": []}, "decisions", "1 decision(s)"),
        ("approval needed", {"approve": True}, "decisions", "HITLResponse"),
        (
            "approval needed",
            edit("issue_refund", [200]),
            "edited_action.args",
            "expected an object",
        ),
        (
            "approval needed",
            edit("issue_refund", {"discount": 5}),
            "edited_action.args.discount",
            "editable",
        ),
        (
            "approval needed",
            edit("issue_refund", {"amount": "lots"}),
            "edited_action.args.amount",
            "a number",
        ),
        (
            "approval needed",
            edit("issue_refund", {"amount": "0"}),
            "edited_action.args.amount",
            "at least 0.01",
        ),
        (
            "approval needed",
            edit("issue_refund", {"amount": "480.01"}),
            "edited_action.args.amount",
            "at most 480.0",
        ),
        (
            "approval needed",
            edit("issue_refund", {"reply": ""}),
            "edited_action.args.reply",
            "non-empty",
        ),
        (
            "approval needed",
            edit("send_reply", {"amount": "1"}),
            "decisions[0].edited_action",
            "'issue_refund'",
        ),
        (
            "unintelligible message",
            edit("triage_ticket", {"category": "complaint"}),
            "edited_action.args.category",
            "refund, shipping, other",
        ),
    ],
)
def test_refused_answer_changes_nothing(
    db_url: str, case: str, answer: Any, field: str, words: str
) -> None:
    thread = waiting(db_url, case)
    before = footprint(db_url, thread)
    with pytest.raises(BadInput) as refused:
        run(resume_thread(thread, answer, db_url=db_url))
    assert refused.value.field == field
    assert words in str(refused.value)
    assert footprint(db_url, thread) == before

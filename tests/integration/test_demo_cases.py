"""Every demo ticket reaches its expected end state, on SQLite and on the real Postgres.

Payments and replies are counted straight from `support_payments` / `support_outbox`.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import waypoint_cli
from tests.helpers import CASES_BY_NAME, DEMO_CASES, count, query, rows, run, thread_row
from waypoint.runner import ThreadReport, resume_thread, start_run, thread_status


def start(db_url: str, case: str) -> ThreadReport:
    thread = f"demo-{uuid.uuid4().hex[:12]}"
    report = run(
        start_run("support", CASES_BY_NAME[case]["input"], thread_id=thread, db_url=db_url)
    )
    assert report.thread_id == thread
    return report


def the_request(report: ThreadReport, node: str) -> dict[str, Any]:
    """The one pending HITL request, which must be at `node`."""
    assert report.status == "waiting" and report.exit_code == 3
    assert [pending.node for pending in report.interrupts] == [node]
    assert report.next == [node]
    value = report.interrupts[0].value
    assert set(value) == {"action_requests", "review_configs"}
    assert len(value["action_requests"]) == len(value["review_configs"]) == 1
    assert value["review_configs"][0]["action_name"] == value["action_requests"][0]["name"]
    return dict(value)


def test_demo_file_covers_the_issue_cases() -> None:
    assert [case["case"] for case in DEMO_CASES] == [
        "auto refund",
        "approval needed",
        "fraud-flagged customer",
        "unknown customer",
        "shipping question",
        "unintelligible message",
        "stale approval",
    ]


@pytest.mark.parametrize("case", [c["case"] for c in DEMO_CASES])
def test_demo_case_ends_where_it_should(db_url: str, case: str) -> None:
    report = start(db_url, case)
    assert report.status == CASES_BY_NAME[case]["expect"]
    row = thread_row(db_url, report.thread_id)
    assert row is not None
    assert (row["graph"], row["status"]) == ("support", report.status)
    # the index and a fresh read of the checkpoint agree with what the run returned
    again = run(thread_status(report.thread_id, db_url=db_url))
    assert (again.status, again.checkpoint_id) == (report.status, report.checkpoint_id)


def test_auto_refund_pays_once_and_replies_once(db_url: str) -> None:
    report = start(db_url, "auto refund")
    assert report.status == "completed" and report.exit_code == 0
    values = report.values
    assert values["decision"]["outcome"] == "refund"
    assert values["decision"]["amount"] == "25.00"
    assert not values["decision"]["needs_approval"]
    assert values["classification_verdict"]["passed"]
    assert [v["passed"] for v in values["review_verdicts"]] == [True]
    assert values.get("human") is None

    payments = rows(db_url, "support_payments", report.thread_id)
    assert len(payments) == 1
    payment = payments[0]
    assert (payment["ticket_id"], payment["order_id"]) == ("T-1001", "O-1")
    assert (payment["amount"], payment["currency"]) == ("25.00", "USD")
    outbox = rows(db_url, "support_outbox", report.thread_id)
    assert len(outbox) == 1
    assert outbox[0]["recipient"] == "ada@example.com"
    assert outbox[0]["body"] == values["draft"]["text"]
    assert "refund of 25.00 USD" in outbox[0]["body"]

    assert values["resolution"] == {
        "kind": "refunded",
        "refund_amount": "25.00",
        "payment_id": payment["payment_id"],
        "outbox_id": outbox[0]["outbox_id"],
        "effects_replayed": False,
    }
    assert count(db_url, "waypoint_side_effects", report.thread_id) == 2


def test_big_refund_waits_for_approval(db_url: str) -> None:
    report = start(db_url, "approval needed")
    request = the_request(report, "approval")
    action = request["action_requests"][0]
    assert action["name"] == "issue_refund"
    assert action["args"]["amount"] == "480.00"
    assert action["args"]["order_id"] == "O-2"
    assert "refund of 480.00 USD" in action["args"]["reply"]
    assert "amount 480.00 above the approval threshold 100.00" in action["description"]
    review = request["review_configs"][0]
    assert review["allowed_decisions"] == ["approve", "edit", "reject", "respond"]
    assert review["args_schema"]["properties"]["amount"]["maximum"] == 480.0
    assert report.values["decision"]["needs_approval"]
    assert count(db_url, "support_payments", report.thread_id) == 0
    assert count(db_url, "support_outbox", report.thread_id) == 0


def test_demo_answer_completes_the_approval(db_url: str) -> None:
    case = CASES_BY_NAME["approval needed"]
    waiting = start(db_url, "approval needed")
    done = run(resume_thread(waiting.thread_id, case["answer"], db_url=db_url))
    assert done.status == "completed" and done.exit_code == 0
    assert done.values["human"]["decision"] == "approve"
    assert done.values["human"]["step"] == "approval"
    assert [r["amount"] for r in rows(db_url, "support_payments", done.thread_id)] == ["480.00"]
    assert count(db_url, "support_outbox", done.thread_id) == 1
    row = thread_row(db_url, done.thread_id)
    assert row is not None and row["status"] == "completed"


def test_fraud_flagged_customer_waits_for_approval_with_the_reason(db_url: str) -> None:
    report = start(db_url, "fraud-flagged customer")
    request = the_request(report, "approval")
    action = request["action_requests"][0]
    assert action["name"] == "issue_refund"
    assert action["args"]["amount"] == "60.00"  # below the threshold: only the flag stops it
    assert "customer is fraud-flagged" in action["description"]
    assert "above the approval threshold" not in action["description"]
    assert report.values["decision"]["approval_reasons"] == ["customer is fraud-flagged"]
    assert count(db_url, "support_payments", report.thread_id) == 0


def test_unknown_customer_is_escalated_without_guessing(db_url: str) -> None:
    report = start(db_url, "unknown customer")
    request = the_request(report, "escalate")
    action = request["action_requests"][0]
    assert action["name"] == "handle_ticket"
    assert "unknown customer C-999" in action["description"]
    assert "unknown order O-9" in action["description"]
    assert request["review_configs"][0]["allowed_decisions"] == ["respond", "reject"]
    lookup = report.values["lookup"]
    assert lookup["customer"] is None and lookup["order"] is None
    assert report.values.get("decision") is None
    assert report.values.get("draft") is None
    assert count(db_url, "support_payments", report.thread_id) == 0
    assert count(db_url, "support_outbox", report.thread_id) == 0


def test_shipping_question_is_replied_without_payment(db_url: str) -> None:
    report = start(db_url, "shipping question")
    assert report.status == "completed"
    assert report.values["classification"]["category"] == "shipping"
    assert report.values["decision"]["outcome"] == "no_refund"
    resolution = report.values["resolution"]
    assert resolution["kind"] == "replied"
    assert resolution["refund_amount"] == "0.00"
    assert resolution["payment_id"] is None
    assert count(db_url, "support_payments", report.thread_id) == 0
    outbox = rows(db_url, "support_outbox", report.thread_id)
    assert [row["outbox_id"] for row in outbox] == [resolution["outbox_id"]]
    assert "ticket T-1005" in outbox[0]["body"]
    assert "refund of" not in outbox[0]["body"]


def test_unintelligible_message_waits_at_human_triage(db_url: str) -> None:
    report = start(db_url, "unintelligible message")
    request = the_request(report, "human_triage")
    assert request["action_requests"][0]["name"] == "triage_ticket"
    assert request["review_configs"][0]["allowed_decisions"] == [
        "approve",
        "edit",
        "respond",
        "reject",
    ]
    verdict = report.values["classification_verdict"]
    assert verdict["gate"] == "classification"
    assert verdict["passed"] is False
    assert verdict["reasons"] == ["confidence 0.20 below threshold 0.60"]
    assert "confidence 0.20 below threshold 0.60" in request["action_requests"][0]["description"]
    assert report.values.get("lookup") is None
    assert count(db_url, "support_outbox", report.thread_id) == 0


def test_the_demo_runs_twice_on_one_database_with_the_same_results(db_url: str) -> None:
    """`make demo` again on a persisted database: new tickets, the demo orders as seeded."""
    outputs = []
    for _ in range(2):
        done = waypoint_cli("demo", "--db", db_url, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "did not end as expected" not in done.stdout + done.stderr
        outputs.append(done.stdout)
    for output in outputs:
        assert "refunded 480.00" in output
        assert "refund denied: order already refunded" in output
    # each run paid O-1 and O-2 once (the demo put them back in between), never more
    paid = query(db_url, "SELECT order_id, amount FROM support_payments ORDER BY order_id")
    assert sorted((row["order_id"], str(row["amount"])) for row in paid) == [
        ("O-1", "25.00"),
        ("O-1", "25.00"),
        ("O-2", "480.00"),
        ("O-2", "480.00"),
    ]


def test_a_stale_approval_in_the_demo_pays_nothing_and_says_why(db_url: str) -> None:
    """Issue 15: A waits on O-2; B on O-2 is approved and paid; approving A pays nothing."""
    approve = CASES_BY_NAME["approval needed"]["answer"]
    stale = CASES_BY_NAME["stale approval"]
    assert stale["input"]["order_id"] == CASES_BY_NAME["approval needed"]["input"]["order_id"]
    a = start(db_url, "stale approval")
    b = start(db_url, "approval needed")
    assert (a.status, b.status) == ("waiting", "waiting")
    paid = run(resume_thread(b.thread_id, approve, db_url=db_url))
    assert paid.values["resolution"]["refund_amount"] == "480.00"
    late = run(resume_thread(a.thread_id, stale["answer"], db_url=db_url))
    assert late.status == stale.get("after", "completed")
    assert late.values["resolution"]["payment_id"] is None
    assert late.values["decision"]["rule"] == "order already refunded"
    assert count(db_url, "support_payments", a.thread_id) == 0
    row = thread_row(db_url, a.thread_id)
    assert row is not None and stale["outcome"] in row["summary"]

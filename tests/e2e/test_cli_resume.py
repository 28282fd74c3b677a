"""Interrupt in one process, answer in another: the real `waypoint` command, run then resume.

Exit codes are the contract: 0 completed, 2 bad input, 3 waiting for a human.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

from tests.conftest import waypoint_cli
from tests.helpers import demo_input, footprint, rows

APPROVAL = demo_input("approval needed")  # C-200, O-2, 480.00: waits at approval


def cli(
    db_url: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return waypoint_cli(*args, "--db", db_url, env=env)


def run_waiting(db_url: str, ticket: dict[str, Any] = APPROVAL) -> tuple[str, dict[str, Any]]:
    """`waypoint run` in its own process; it must stop waiting for a human (exit 3)."""
    thread = f"cli-{uuid.uuid4().hex[:12]}"
    started = cli(
        db_url, "run", "support", "--input", json.dumps(ticket), "--thread", thread, "--json"
    )
    assert started.returncode == 3, started.stderr
    report = json.loads(started.stdout)
    assert (report["thread_id"], report["status"], report["exit_code"]) == (thread, "waiting", 3)
    return thread, report


def resume(
    db_url: str, thread: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return cli(db_url, "resume", thread, *args, "--json", env=env)


def test_approve_in_another_process(db_url: str) -> None:
    thread, waiting = run_waiting(db_url)
    assert waiting["interrupts"][0]["node"] == "approval"
    assert waiting["interrupts"][0]["value"]["action_requests"][0]["name"] == "issue_refund"
    assert rows(db_url, "support_payments", thread) == []

    done = resume(db_url, thread, "--approve", env={"WAYPOINT_ACTOR": "alice"})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["status"], report["exit_code"]) == ("completed", 0)
    assert report["values"]["human"] == {
        "step": "approval",
        "decision": "approve",
        "message": None,
        "edited_args": None,
        "answered_by": "alice",
    }
    payments = rows(db_url, "support_payments", thread)
    assert [(p["amount"], p["order_id"]) for p in payments] == [("480.00", "O-2")]
    outbox = rows(db_url, "support_outbox", thread)
    assert len(outbox) == 1 and "refund of 480.00 USD" in outbox[0]["body"]
    assert report["values"]["resolution"]["payment_id"] == payments[0]["payment_id"]


def test_reject_with_reason_in_another_process(sqlite_url: str) -> None:
    thread = f"cli-{uuid.uuid4().hex[:12]}"
    started = cli(sqlite_url, "run", "support", "--input", json.dumps(APPROVAL), "--thread", thread)
    assert started.returncode == 3, started.stderr
    # the human-readable report says where it waits and how to answer
    assert "waiting at approval" in started.stdout
    assert "issue_refund" in started.stdout
    assert f"waypoint resume {thread} --approve" in started.stdout

    done = resume(sqlite_url, thread, "--reject", "--reason", "Chair was used for a year")
    assert done.returncode == 0, done.stderr
    values = json.loads(done.stdout)["values"]
    assert values["resolution"]["kind"] == "rejected"
    assert values["human"]["decision"] == "reject"
    assert values["human"]["message"] == "Chair was used for a year"
    assert rows(sqlite_url, "support_payments", thread) == []
    assert rows(sqlite_url, "support_outbox", thread) == []


def test_edit_above_the_total_is_refused_then_a_valid_edit_pays_it(sqlite_url: str) -> None:
    thread, _ = run_waiting(sqlite_url)
    before = footprint(sqlite_url, thread)

    refused = resume(sqlite_url, thread, "--edit", '{"amount": "500.00"}')
    assert refused.returncode == 2
    assert "edited_action.args.amount" in refused.stderr
    assert "at most 480.0" in refused.stderr
    assert refused.stdout == ""
    assert footprint(sqlite_url, thread) == before  # nothing written
    status = cli(sqlite_url, "status", thread, "--json")
    assert status.returncode == 3  # still waiting, as another process sees it
    assert json.loads(status.stdout)["interrupts"][0]["node"] == "approval"

    done = resume(sqlite_url, thread, "--edit", '{"amount": "200.00"}')
    assert done.returncode == 0, done.stderr
    values = json.loads(done.stdout)["values"]
    assert values["decision"]["amount"] == "200.00"
    assert values["human"]["edited_args"] == {"amount": "200.00"}
    assert [v["passed"] for v in values["review_verdicts"]] == [True, True]  # redrafted, reviewed
    assert [p["amount"] for p in rows(sqlite_url, "support_payments", thread)] == ["200.00"]
    outbox = rows(sqlite_url, "support_outbox", thread)
    assert len(outbox) == 1 and "refund of 200.00 USD" in outbox[0]["body"]


def test_respond_sends_the_text_and_pays_nothing(sqlite_url: str) -> None:
    thread, _ = run_waiting(sqlite_url)
    words = "Hello Grace, a colleague will call you about the chair today."
    done = resume(sqlite_url, thread, "--respond", words)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["values"]["resolution"]["kind"] == "closed_by_human"
    assert [row["body"] for row in rows(sqlite_url, "support_outbox", thread)] == [words]
    assert rows(sqlite_url, "support_payments", thread) == []


def test_escalation_answered_from_another_process(sqlite_url: str) -> None:
    thread, waiting = run_waiting(sqlite_url, demo_input("unknown customer"))
    assert waiting["interrupts"][0]["node"] == "escalate"
    done = resume(sqlite_url, thread, "--respond", "Which e-mail did you order with?")
    assert done.returncode == 0, done.stderr
    outbox = rows(sqlite_url, "support_outbox", thread)
    assert [(r["body"], r["recipient"]) for r in outbox] == [
        ("Which e-mail did you order with?", "customer:C-999")
    ]
    assert rows(sqlite_url, "support_payments", thread) == []

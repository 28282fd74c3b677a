"""Questions with a deadline get their default answer from `waypoint sweep`, exactly once."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import waypoint_cli
from tests.helpers import query, run, start_paused
from waypoint.persistence.stores import open_stores
from waypoint.runner import resume_thread, start_run


def _start(db: str, **given: Any) -> str:
    thread = f"deadline-{uuid.uuid4().hex[:8]}"
    report = run(start_run("deadlines", given, thread_id=thread, db_url=db))
    assert report.status == "waiting"
    return thread


def _sweep(db: str) -> dict[str, Any]:
    done = waypoint_cli("sweep", "--db", db, "--json")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_a_passed_deadline_applies_the_default_once(db_url: str) -> None:
    rejected = _start(db_url, on_timeout="reject", seconds=0.2)
    approved = _start(db_url, on_timeout="approve", seconds=0.2)
    later = _start(db_url, on_timeout="approve", seconds=3600)
    answered = _start(db_url, on_timeout="approve", seconds=0.2)
    run(resume_thread(answered, {"decisions": [{"type": "reject"}]}, db_url=db_url))
    time.sleep(0.5)

    swept = _sweep(db_url)
    mine = {a["thread_id"]: a for a in swept["applied"] if a["thread_id"] in
            (rejected, approved, later, answered)}  # fmt: skip
    assert set(mine) == {rejected, approved}
    assert (mine[rejected]["outcome"], mine[rejected]["status"]) == ("reject", "completed")
    assert (mine[approved]["outcome"], mine[approved]["status"]) == ("approve", "completed")

    again = _sweep(db_url)  # exactly once: nothing of these is due any more
    assert not {a["thread_id"] for a in again["applied"]} & {rejected, approved, later, answered}

    def state(thread: str) -> dict[str, Any]:
        status = waypoint_cli("status", thread, "--db", db_url, "--json")
        values: dict[str, Any] = json.loads(status.stdout)["values"]
        return values

    assert (state(rejected)["outcome"], state(rejected)["acted"]) == ("reject", False)
    assert (state(approved)["outcome"], state(approved)["acted"]) == ("approve", True)
    assert state(answered)["outcome"] == "reject"  # the person's answer, not the default
    waiting = waypoint_cli("status", later, "--db", db_url, "--json")
    assert waiting.returncode == 3  # still waiting: its deadline is an hour away

    rows = query(
        db_url,
        "SELECT thread_id, answered_by FROM waypoint_handoffs WHERE thread_id IN (?, ?, ?)",
        (rejected, approved, answered),
    )
    by = {r["thread_id"]: r["answered_by"] for r in rows}
    assert by[rejected] == by[approved] == "sweeper" and by[answered] != "sweeper"
    ledger = query(
        db_url,
        "SELECT human_decision FROM waypoint_ledger WHERE thread_id = ? AND node = 'ask' "
        "AND human_decision IS NOT NULL",
        (rejected,),
    )
    [decision] = [json.loads(r["human_decision"]) for r in ledger]
    assert decision["decision"] == "reject" and decision["answered_by"] == "sweeper"
    assert "the default (reject) applied" in str(decision)


def test_an_escalating_deadline_hands_the_question_to_its_user_once(sqlite_url: str) -> None:
    db = sqlite_url
    thread = _start(db, on_timeout="escalate", escalate_to="boss", seconds=0.2)
    before = waypoint_cli("resume", thread, "--approve", "--as", "boss", "--db", db)
    assert before.returncode == 2 and "as: boss may not answer" in before.stderr  # not yet
    time.sleep(0.4)

    swept = _sweep(db)
    assert [e for e in swept["escalated"] if e["thread_id"] == thread] == [
        {"thread_id": thread, "interrupt_id": swept["escalated"][0]["interrupt_id"], "to": "boss"}
    ]
    assert not [a for a in swept["applied"] if a["thread_id"] == thread]  # nothing answered
    again = _sweep(db)  # exactly once
    assert not [e for e in again["escalated"] if e["thread_id"] == thread]

    inbox = waypoint_cli("inbox", "--as", "boss", "--db", db, "--json")
    [item] = [i for i in json.loads(inbox.stdout)["waiting"] if i["thread_id"] == thread]
    assert item["escalated_to"] == "boss"
    answered = waypoint_cli("resume", thread, "--approve", "--as", "boss", "--db", db, "--json")
    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout)["values"]["acted"] is True
    ledger = query(
        db,
        "SELECT human_decision FROM waypoint_ledger WHERE thread_id = ? "
        "AND human_decision IS NOT NULL",
        (thread,),
    )
    [decision] = [json.loads(r["human_decision"]) for r in ledger]
    assert (decision["answered_by"], decision["answered_as"]) == ("boss", "escalation")


def test_an_escalated_user_answers_the_question_handed_to_them_and_no_other(
    sqlite_url: str,
) -> None:
    """Two questions wait in parallel; only `ask_a`'s passes its deadline and goes to boss."""
    db, thread = sqlite_url, f"escalate-one-{uuid.uuid4().hex[:8]}"
    given = {"topic": "t", "escalate_a_to": "boss", "seconds": 0.2}
    report = run(start_run("two_questions", given, thread_id=thread, db_url=db))
    assert report.status == "waiting" and len(report.interrupts) == 2
    time.sleep(0.4)
    assert [e["to"] for e in _sweep(db)["escalated"] if e["thread_id"] == thread] == ["boss"]
    [handed] = query(db, "SELECT handoff_id, node FROM waypoint_handoffs WHERE thread_id = ? "
                     "AND on_timeout = 'escalated:boss'", (thread,))  # fmt: skip
    assert handed["node"] == "ask_a"
    other = next(i.id for i in report.interrupts if i.id != handed["handoff_id"])

    refused = waypoint_cli(
        "resume", thread, "--approve", "--as", "boss", "--interrupt", other, "--db", db
    )
    assert refused.returncode == 2, refused.stderr
    assert "interrupt: boss may answer only the question escalated" in refused.stderr
    assert not query(db, "SELECT 1 FROM waypoint_handoffs WHERE thread_id = ? AND "
                     "answered_at IS NOT NULL", (thread,))  # fmt: skip  # nothing written

    answered = waypoint_cli("resume", thread, "--approve", "--as", "boss", "--db", db, "--json")
    assert answered.returncode == 3, answered.stderr  # ask_b still waits for its owner
    assert [i["id"] for i in json.loads(answered.stdout)["interrupts"]] == [other]
    rows = query(db, "SELECT node, human_decision FROM waypoint_ledger WHERE thread_id = ? "
                 "AND human_decision IS NOT NULL", (thread,))  # fmt: skip
    assert [(r["node"], json.loads(r["human_decision"])["answered_as"]) for r in rows] == [
        ("ask_a", "escalation")
    ]
    again = waypoint_cli("resume", thread, "--approve", "--as", "boss", "--db", db)
    assert again.returncode == 2 and "as: boss may not answer" in again.stderr  # handed back


def test_a_sweeper_killed_while_escalating_leaves_both_writes_or_neither(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handoff's escalation and its `escalated` webhook are one transaction."""
    monkeypatch.setenv("WAYPOINT_WEBHOOK_URLS", "http://127.0.0.1:9/escalations")
    thread = _start(db_url, on_timeout="escalate", escalate_to="boss", seconds=0.2)
    time.sleep(0.4)

    def handoff() -> str:
        [row] = query(db_url, "SELECT on_timeout FROM waypoint_handoffs WHERE thread_id = ?",
                      (thread,))  # fmt: skip
        return str(row["on_timeout"])

    def webhooks() -> list[dict[str, Any]]:
        rows = query(db_url, "SELECT body FROM waypoint_notifications WHERE event_id LIKE ?",
                     (f"{thread}:escalated:%",))  # fmt: skip
        return [json.loads(r["body"]) for r in rows]

    sweeper = start_paused(["sweep", "--db", db_url], "sweep:escalating", tmp_path)
    assert handoff() == "escalate:boss"  # not committed yet: others still see it due
    sweeper.kill()
    sweeper.wait(timeout=30)
    assert (handoff(), webhooks()) == ("escalate:boss", [])  # neither write survived

    swept = _sweep(db_url)
    assert [e["to"] for e in swept["escalated"] if e["thread_id"] == thread] == ["boss"]
    assert handoff() == "escalated:boss"
    assert [w["escalated_to"] for w in webhooks()] == ["boss"]  # queued once, with it
    again = _sweep(db_url)
    assert not [e for e in again["escalated"] if e["thread_id"] == thread]
    assert len(webhooks()) == 1


async def _claim_as_another_sweeper(db: str, thread: str) -> bool:
    from waypoint.sweeper import claim

    async with open_stores(db) as stores:
        row = await stores.db.fetchone(
            "SELECT thread_id, handoff_id FROM waypoint_handoffs WHERE thread_id = :t",
            {"t": thread},
        )
        assert row is not None
        return await claim(stores.db, row, "sweeper@elsewhere:1/cli/crashed")


async def _lease_ends(db: str, thread: str) -> None:
    async with open_stores(db) as stores:
        await stores.db.execute(
            "UPDATE waypoint_handoffs SET claimed_until = :past WHERE thread_id = :t",
            {"past": "2000-01-01T00:00:00+00:00", "t": thread},
        )


def test_a_claimed_deadline_waits_for_its_lease_then_applies_once(db_url: str) -> None:
    thread = _start(db_url, on_timeout="approve", seconds=0.2)
    time.sleep(0.4)
    # another sweep claimed it first (and then crashed before it applied it)
    assert run(_claim_as_another_sweeper(db_url, thread))
    assert not run(_claim_as_another_sweeper(db_url, thread))  # one claim at a time

    held = _sweep(db_url)
    assert thread in held["claimed"]
    assert thread not in {a["thread_id"] for a in held["applied"]}
    waiting = waypoint_cli("status", thread, "--db", db_url, "--json")
    assert waiting.returncode == 3  # still waiting: the claim is not an answer

    run(_lease_ends(db_url, thread))  # the crashed sweep's lease ends: the next sweep applies it
    swept = _sweep(db_url)
    assert [a["status"] for a in swept["applied"] if a["thread_id"] == thread] == ["completed"]
    again = _sweep(db_url)
    assert thread not in {a["thread_id"] for a in again["applied"]} | set(again["claimed"])
    [row] = query(
        db_url,
        "SELECT answered_by, claimed_by FROM waypoint_handoffs WHERE thread_id = ?",
        (thread,),
    )
    assert row["answered_by"] == "sweeper" and "/cli/" in str(row["claimed_by"])
    [decision] = [
        json.loads(r["human_decision"])
        for r in query(
            db_url,
            "SELECT human_decision FROM waypoint_ledger WHERE thread_id = ? "
            "AND human_decision IS NOT NULL",
            (thread,),
        )
    ]
    assert (decision["answered_by"], decision["answered_as"]) == ("sweeper", "deadline")

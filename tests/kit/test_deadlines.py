"""Questions with a deadline get their default answer from `waypoint sweep`, exactly once."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from tests.conftest import waypoint_cli
from tests.helpers import query, run
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

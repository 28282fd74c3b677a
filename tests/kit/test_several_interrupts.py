"""Several questions pending at once: each is answered by its interrupt id, from the CLI too."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import waypoint_cli
from tests.helpers import count, run
from waypoint.errors import BadInput
from waypoint.runner import resume_thread, start_run

APPROVE = {"decisions": [{"type": "approve"}]}


def test_two_pending_questions_are_answered_by_id(db_url: str) -> None:
    waiting = run(start_run("two_questions", {"topic": "refunds"}, db_url=db_url))
    assert waiting.status == "waiting"
    assert sorted(i.node for i in waiting.interrupts) == ["ask_a", "ask_b"]
    checkpoints = count(db_url, "checkpoints", waiting.thread_id)

    with pytest.raises(BadInput) as unnamed:
        run(resume_thread(waiting.thread_id, APPROVE, db_url=db_url))
    assert unnamed.value.field == "interrupt" and "2 questions wait" in str(unnamed.value)
    with pytest.raises(BadInput) as unknown:
        run(resume_thread(waiting.thread_id, APPROVE, db_url=db_url, interrupt_id="nope"))
    assert unknown.value.field == "interrupt"
    assert count(db_url, "checkpoints", waiting.thread_id) == checkpoints

    by_node = {i.node: i.id for i in waiting.interrupts}
    one = run(
        resume_thread(waiting.thread_id, APPROVE, db_url=db_url, interrupt_id=by_node["ask_b"])
    )
    assert one.status == "waiting"
    assert [i.node for i in one.interrupts] == ["ask_a"]
    done = run(
        resume_thread(
            waiting.thread_id,
            {"decisions": [{"type": "reject"}]},
            db_url=db_url,
            interrupt_id=one.interrupts[0].id,
        )
    )
    assert done.status == "completed"
    assert done.values["summary"] == "a:reject,b:approve"


def test_cli_resume_names_the_interrupt(sqlite_url: str) -> None:
    thread = f"two-{uuid.uuid4().hex[:8]}"
    started = waypoint_cli(
        "run",
        "two_questions",
        "--input",
        '{"topic": "x"}',
        "--thread",
        thread,
        "--db",
        sqlite_url,
        "--json",
    )
    assert started.returncode == 3, started.stderr
    interrupts = {i["node"]: i["id"] for i in json.loads(started.stdout)["interrupts"]}
    unnamed = waypoint_cli("resume", thread, "--approve", "--db", sqlite_url)
    assert unnamed.returncode == 2 and "--interrupt ID" in unnamed.stderr
    first = waypoint_cli(
        "resume", thread, "--approve", "--interrupt", interrupts["ask_a"], "--db", sqlite_url
    )
    assert first.returncode == 3, first.stderr
    status = json.loads(waypoint_cli("status", thread, "--db", sqlite_url, "--json").stdout)
    [left] = status["interrupts"]
    second = waypoint_cli(
        "resume", thread, "--approve", "--interrupt", left["id"], "--db", sqlite_url, "--json"
    )
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["values"]["summary"] == "a:approve,b:approve"

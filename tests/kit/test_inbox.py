"""`waypoint inbox`: the questions waiting for a human across threads, oldest first."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.conftest import waypoint_cli
from tests.helpers import run
from waypoint.runner import resume_thread, start_run

APPROVE = {"decisions": [{"type": "approve"}]}


def _inbox(db: str, *args: str) -> list[dict[str, Any]]:
    listed = waypoint_cli("inbox", *args, "--db", db, "--json")
    assert listed.returncode == 0, listed.stderr
    items: list[dict[str, Any]] = json.loads(listed.stdout)["waiting"]
    return items


def test_the_inbox_lists_waiting_questions_oldest_first(db_url: str) -> None:
    two = f"two-{uuid.uuid4().hex[:8]}"
    plain = f"plain-{uuid.uuid4().hex[:8]}"
    asked = run(start_run("two_questions", {"topic": "inbox"}, thread_id=two, db_url=db_url))
    run(start_run("plain", {"steps": ["ask"]}, thread_id=plain, db_url=db_url))
    run(start_run("plain", {"steps": ["ok"]}, thread_id=f"plain-{uuid.uuid4().hex[:8]}",
                  db_url=db_url))  # fmt: skip

    mine = [i for i in _inbox(db_url) if i["thread_id"] in (two, plain)]
    assert [i["thread_id"] for i in mine] == [two, two, plain]  # oldest first
    confirm = {i["action"]: i for i in mine if i["thread_id"] == two}
    assert set(confirm) == {"confirm_a", "confirm_b"}
    assert confirm["confirm_a"]["allowed_decisions"] == ["approve", "reject"]
    assert confirm["confirm_a"]["description"] == "Confirm a for inbox."
    assert confirm["confirm_a"]["args"] == {"topic": "inbox"}
    question = mine[-1]
    assert (question["kind"], question["args"], question["node"]) == (
        "question",
        "may first go on?",
        "first",
    )
    assert all(i["age_s"] >= 0 for i in mine)

    run(resume_thread(two, APPROVE, db_url=db_url, interrupt_id=asked.interrupts[0].id))
    left = [i for i in _inbox(db_url) if i["thread_id"] in (two, plain)]
    assert len(left) == 2 and asked.interrupts[0].id not in {i["interrupt_id"] for i in left}
    only_plain = _inbox(db_url, "--graph", "plain")
    assert {i["graph"] for i in only_plain} == {"plain"} and plain in {
        i["thread_id"] for i in only_plain
    }
    assert not [i for i in _inbox(db_url, "--older-than", "1h") if i["thread_id"] == plain]


def test_bad_inbox_filters_exit_2(sqlite_url: str) -> None:
    for args, expected in (
        (("--older-than", "soon"), "older-than"),
        (("--graph", "bad graph\n"), "graph"),
    ):
        done = waypoint_cli("inbox", *args, "--db", sqlite_url)
        assert done.returncode == 2, (args, done.stderr)
        assert expected in done.stderr

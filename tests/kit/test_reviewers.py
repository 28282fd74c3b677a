"""Reviewers: `resume --as USER` answers a thread another user started only under a role.

The owner (who started the thread) may answer; a reviewer of the thread's workflow
(`WAYPOINT_ROLES`) may answer its question, and only that; anyone else is refused with exit 2
naming `as`, and nothing is written. Each answer records who gave it and under which role, in
the ledger and `audit`. Answers in real processes on both backends; the refusals run the same
app in this process (`tests.cli_inprocess`).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.cli_inprocess import assert_refused, invoke
from tests.conftest import waypoint_cli
from tests.helpers import footprint
from waypoint.roles import RoleConfigError, may_review, parse_roles


def _cli(db: str, *args: str, env: dict[str, str] | None = None) -> Any:
    return waypoint_cli(*args, "--db", db, "--json", env=env)


def _waiting_thread(db: str) -> tuple[str, str]:
    thread = f"rev-{uuid.uuid4().hex[:8]}"
    started = _cli(db, "run", "two_questions", "--input", '{"topic": "roles"}', "--thread",
                   thread, env={"WAYPOINT_ACTOR": "alice"})  # fmt: skip
    assert started.returncode == 3, started.stderr
    first = json.loads(started.stdout)["interrupts"][0]["id"]
    return thread, first


def _inbox_of(db: str, user: str, env: dict[str, str]) -> set[str]:
    listed = invoke("inbox", "--as", user, "--db", db, "--json", env=env)
    assert listed.exit_code == 0, listed.describe()
    return {item["thread_id"] for item in json.loads(listed.stdout)["waiting"]}


def _answers(db: str, thread: str) -> list[dict[str, Any]]:
    audited = _cli(db, "audit", thread)
    assert audited.returncode == 0, audited.stderr
    rows = json.loads(audited.stdout)["invocations"]
    return [r["human_decision"] for r in rows if r.get("human_decision")]


def test_owner_and_reviewer_may_answer_anyone_else_is_refused(db_url: str) -> None:
    thread, first = _waiting_thread(db_url)
    before = footprint(db_url, thread)
    for env in ({}, {"WAYPOINT_ROLES": "bob=reviewer:payer+deadlines"}):
        refused = invoke("resume", thread, "--approve", "--interrupt", first, "--as", "bob",
                         "--db", db_url, env=env)  # fmt: skip
        line = assert_refused(refused, "as: bob may not answer", "started by alice")
        assert "not a reviewer of two_questions" in line
        assert footprint(db_url, thread) == before  # nothing written

    reviewer = {"WAYPOINT_ROLES": "bob=reviewer:two_questions"}
    assert thread not in _inbox_of(db_url, "bob", {})  # not bob's, and he reviews nothing
    assert thread in _inbox_of(db_url, "bob", reviewer)
    assert thread in _inbox_of(db_url, "alice", {})
    assert thread not in _inbox_of(db_url, "erin", {"WAYPOINT_ROLES": "erin=reviewer:payer"})
    # a reviewer answers, and only answers: continuing the thread is the owner's
    not_an_answer = invoke("resume", thread, "--as", "bob", "--db", db_url, env=reviewer)
    assert_refused(not_an_answer, "as:", "may only answer")
    assert footprint(db_url, thread) == before

    answered = _cli(db_url, "resume", thread, "--approve", "--interrupt", first, "--as", "bob",
                    env=reviewer)  # fmt: skip
    assert answered.returncode == 3, answered.stderr  # the second question still waits
    second = json.loads(answered.stdout)["interrupts"][0]["id"]
    owner = _cli(db_url, "resume", thread, "--reject", "--interrupt", second, "--as", "alice")
    assert owner.returncode == 0, owner.stderr

    given = sorted(
        (a["answered_by"], a["answered_as"], a["decision"]) for a in _answers(db_url, thread)
    )
    assert given == [("alice", "owner", "reject"), ("bob", "reviewer", "approve")]


def test_an_answer_without_as_is_the_operators(sqlite_url: str) -> None:
    thread, first = _waiting_thread(sqlite_url)
    done = _cli(sqlite_url, "resume", thread, "--approve", "--interrupt", first,
                env={"WAYPOINT_ACTOR": "ops"})  # fmt: skip
    assert done.returncode == 3, done.stderr
    [answer] = _answers(sqlite_url, thread)
    assert (answer["answered_by"], answer["answered_as"]) == ("ops", "operator")


def test_bad_roles_or_user_exit_2_and_write_nothing(sqlite_url: str) -> None:
    thread, first = _waiting_thread(sqlite_url)
    before = footprint(sqlite_url, thread)
    for as_user, env, expected in (
        ("bob", {"WAYPOINT_ROLES": "bob=admin:two_questions"}, "role 'admin' unknown"),
        ("bob", {"WAYPOINT_ROLES": "bob reviewer"}, "expected USER=ROLE:GRAPH+GRAPH"),
        ("bob", {"WAYPOINT_ROLES_FILE": "/no/such/roles"}, "cannot read it"),
        ("bad user\n", {}, "as:"),
    ):
        done = invoke("resume", thread, "--approve", "--interrupt", first, "--as", as_user,
                      "--db", sqlite_url, env=env)  # fmt: skip
        assert_refused(done, expected)
    assert footprint(sqlite_url, thread) == before


def test_roles_parse_every_form() -> None:
    parsed = parse_roles("carol=reviewer:support+research, dave = reviewer:*\n# note\n",
                         source="WAYPOINT_ROLES")  # fmt: skip
    assert parsed == {
        "carol": frozenset({"support", "research"}),
        "dave": frozenset({"*"}),
    }
    env = {"WAYPOINT_ROLES": "carol=reviewer:support"}
    assert may_review("carol", "support", env) and not may_review("carol", "research", env)
    assert may_review("dave", "anything", {"WAYPOINT_ROLES": "dave=reviewer:*"})
    assert not may_review("erin", "support", env)
    for text in ("carol=reviewer:", "=reviewer:support", "carol=reviewer:bad graph"):
        with pytest.raises(RoleConfigError, match="entry 1"):
            parse_roles(text, source="WAYPOINT_ROLES")

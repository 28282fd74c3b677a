"""Kill scopes on a graph of the kit's own: a graph kill and a global kill reach the threads of
their scope that are running or waiting, refuse new runs until lifted, and a waiting thread
answered after the kill runs nothing more (its effect node never runs).

A graph kill stays in the database until `unkill`, so each test lifts what it set (the
Postgres database is shared by the session's tests).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from tests.conftest import waypoint_cli
from tests.helpers import footprint, query, run, thread_row
from waypoint.errors import BadInput, Halted
from waypoint.runner import resume_thread, start_run


def _thread() -> str:
    return f"plain-{uuid.uuid4().hex[:8]}"


@contextmanager
def _lifted_after(db: str, *scope: str) -> Iterator[None]:
    try:
        yield
    finally:
        waypoint_cli("unkill", *scope, "--reason", "test cleanup", "--db", db)


def test_a_graph_kill_reaches_waiting_threads_and_blocks_new_runs(db_url: str) -> None:
    waiting = _thread()
    started = run(start_run("plain", {"steps": ["ask", "ok"]}, thread_id=waiting, db_url=db_url))
    assert started.status == "waiting"
    with _lifted_after(db_url, "--graph", "plain"):
        killed = waypoint_cli(
            "kill", "--graph", "plain", "--reason", "incident 42", "--db", db_url, "--json"
        )
        assert killed.returncode == 0, killed.stderr
        reached = json.loads(killed.stdout)
        assert waiting in reached["threads"]["waiting"]
        assert reached["reached"]["waiting"] == len(reached["threads"]["waiting"])

        refused_thread = _thread()
        refused = waypoint_cli(
            "run", "plain", "--input", '{"steps": ["ok"]}', "--thread", refused_thread,
            "--db", db_url,
        )  # fmt: skip
        assert refused.returncode == 4, refused.stderr
        assert "kill: graph plain is killed" in refused.stderr
        assert "incident 42" in refused.stderr and "unkill --graph plain" in refused.stderr
        assert thread_row(db_url, refused_thread) is None
        assert footprint(db_url, refused_thread) == footprint(db_url, "no-such-thread")

        answered = run(resume_thread(waiting, {"answer": "yes"}, db_url=db_url))
        assert answered.status == "halted"
        assert answered.values["halt"]["kind"] == "kill"
        assert answered.values["halt"]["reason"] == "incident 42"
        assert answered.values.get("log", []) == []  # neither node wrote: nothing ran

        lifted = waypoint_cli("unkill", "--graph", "plain", "--reason", "fixed", "--db", db_url)
        assert lifted.returncode == 0, lifted.stderr
        again = waypoint_cli("unkill", "--graph", "plain", "--reason", "again", "--db", db_url)
        assert again.returncode == 2 and "graph: plain is not killed" in again.stderr

    fresh = run(start_run("plain", {"steps": ["ok", "ok"]}, thread_id=_thread(), db_url=db_url))
    assert fresh.status == "completed"
    try:  # lifting the scope does not resume what it halted
        run(resume_thread(waiting, {"answer": "yes"}, db_url=db_url))
        raise AssertionError("a thread halted by a graph kill was answered after the unkill")
    except BadInput as still:
        assert "is halted, not waiting" in str(still)
    resumed = run(resume_thread(waiting, db_url=db_url, override="incident over"))
    assert resumed.status == "waiting"  # `first` asks again
    [scope] = query(
        db_url,
        "SELECT reason, lifted_by, lift_reason FROM waypoint_kill_scopes "
        "WHERE scope = 'graph:plain' AND reason = 'incident 42'",
        (),
    )
    assert scope["lift_reason"] == "fixed" and scope["lifted_by"]


def test_a_global_kill_blocks_every_graph_until_lifted(sqlite_url: str) -> None:
    with _lifted_after(sqlite_url, "--all"):
        killed = waypoint_cli("kill", "--all", "--reason", "stop the world", "--db", sqlite_url)
        assert killed.returncode == 0, killed.stderr
        assert "killed every graph: reached 0 running, 0 waiting, 0 incomplete" in killed.stdout
        try:
            run(start_run("two_questions", {"topic": "x"}, thread_id=_thread(), db_url=sqlite_url))
            raise AssertionError("a run started under a global kill")
        except Halted as refused:
            assert "kill: every graph is killed" in str(refused)
            assert "unkill --all" in str(refused)
        assert waypoint_cli("unkill", "--all", "--reason", "ok", "--db", sqlite_url).returncode == 0
    done = run(start_run("plain", {"steps": ["ok"]}, thread_id=_thread(), db_url=sqlite_url))
    assert done.status == "completed"


def test_kill_and_unkill_refuse_bad_scopes(sqlite_url: str) -> None:
    cases = [
        (("kill", "--graph", "plain", "--all", "--reason", "x"), "thread: give one of"),
        (("kill", "--reason", "x"), "thread: give one of"),
        (("kill", "--graph", "no_such_graph", "--reason", "x"), "no_such_graph"),
        (("kill", "--graph", "plain"), "reason: --reason TEXT is required"),
        (("unkill", "--reason", "x"), "graph: give --graph G or --all"),
        (("unkill", "--all", "--reason", "x"), "all: there is no global kill"),
    ]
    for args, expected in cases:
        done = waypoint_cli(*args, "--db", sqlite_url)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert expected in done.stderr, (args, done.stderr)

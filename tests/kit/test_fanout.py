"""`Send` fan-out under the kit: each task is an invocation (graphs in `graphs/shapes.py`).

Each of N parallel tasks of one node has its own ledger row (its LangGraph task id and path),
is counted by the budgets, is checked by the loop rule and the kill switch; retries of one task
stay tries of that task. Parallel branches joined by a reducer and `Command(goto, update)` get
the same treatment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from tests.conftest import PROJECT_ROOT, waypoint_cli
from tests.helpers import query, run
from waypoint.runner import start_run


def _thread() -> str:
    return f"shapes-{uuid.uuid4().hex[:8]}"


def _rows(db_url: str, thread: str) -> list[dict[str, Any]]:
    return query(
        db_url,
        "SELECT step, node, attempt, status, task_id, task_path, checkpoint_ns, checkpoint_id, "
        "error_message FROM waypoint_ledger WHERE thread_id = ? ORDER BY step, started_at",
        (thread,),
    )


def test_each_send_task_is_an_invocation_with_its_own_row(db_url: str) -> None:
    thread = _thread()
    done = run(start_run("fanout", {"items": ["a", "b", "c"]}, thread_id=thread, db_url=db_url))
    assert done.status == "completed"
    assert sorted(done.values["done"][:3]) == ["work:a", "work:b", "work:c"]
    work = [r for r in _rows(db_url, thread) if r["node"] == "work"]
    assert len(work) == 3
    assert len({r["task_id"] for r in work}) == 3  # three tasks, not three tries of one
    assert [r["attempt"] for r in work] == [1, 1, 1]
    assert sorted(r["task_path"] for r in work) == [f"__pregel_push, {i}, False" for i in range(3)]
    assert {r["status"] for r in work} == {"committed"}
    assert len({r["checkpoint_id"] for r in work}) == 1  # the step's checkpoint holds all three
    assert {r["checkpoint_ns"] for r in work} == {""}


def test_a_wide_fan_out_writes_every_row_whole(db_url: str) -> None:
    """Twelve tasks start and end together: on Postgres their rows go as one JSON parameter
    (`ledger._as_json`), and every column still lands, typed, on each row."""
    thread, items = _thread(), [f"i{n}" for n in range(12)]
    done = run(start_run("fanout", {"items": items}, thread_id=thread, db_url=db_url))
    assert done.status == "completed"
    work = query(
        db_url,
        "SELECT task_id, step, attempt, status, checkpoint_id, started_at, ended_at, latency_ms, "
        "tokens, cost_usd, output_digest, summary, error_class FROM waypoint_ledger "
        "WHERE thread_id = ? AND node = 'work'",
        (thread,),
    )
    assert len(work) == 12 and len({r["task_id"] for r in work}) == 12
    for row in work:
        assert (row["attempt"], row["status"], row["error_class"]) == (1, "committed", None)
        assert row["checkpoint_id"] and row["ended_at"] >= row["started_at"]
        assert isinstance(row["latency_ms"], float) and row["latency_ms"] >= 0
        assert (row["tokens"], row["cost_usd"]) == (0, "0")
        assert len(row["output_digest"]) == 16 and row["summary"].startswith('{"done"')
    assert len({r["step"] for r in work}) == 1 and len({r["summary"] for r in work}) == 12


def test_the_task_ids_are_langgraphs(sqlite_url: str) -> None:
    """The ledger reads LangGraph's task namespace (`NODE:TASK_ID`); drift shows here."""
    thread = _thread()
    run(start_run("fanout", {"items": ["a", "b"]}, thread_id=thread, db_url=sqlite_url))
    ledger_ids = {r["task_id"] for r in _rows(sqlite_url, thread) if r["node"] == "work"}
    saved_ids = {
        r["task_id"]
        for r in query(
            sqlite_url,
            "SELECT DISTINCT task_id FROM writes WHERE thread_id = ? AND channel = 'done'",
            (thread,),
        )
    }
    assert ledger_ids and ledger_ids <= saved_ids


def test_a_node_visit_budget_halts_the_third_of_five_tasks(db_url: str) -> None:
    thread = _thread()
    halted = run(
        start_run(
            "fanout",
            {"items": ["a", "b", "c", "d", "e"]},
            thread_id=thread,
            db_url=db_url,
            context={"budgets": {"node_visits": 2}},
        )
    )
    assert halted.status == "halted" and halted.exit_code == 4
    assert halted.values["halt"]["kind"] == "loop"
    assert halted.values["halt"]["node"] == "work"
    assert len(halted.values["done"]) == 2  # two tasks ran; gather never did
    rows = _rows(db_url, thread)
    work = [r for r in rows if r["node"] == "work"]
    assert sorted(r["status"] for r in work) == ["committed"] * 2 + ["halted"] * 3
    assert len({r["task_id"] for r in work}) == 5
    assert all(
        "work reached 2 times" in r["error_message"] for r in work if r["status"] == "halted"
    )
    assert [r["status"] for r in rows if r["node"] == "gather"] in ([], ["halted"])


def test_a_step_budget_counts_every_task(db_url: str) -> None:
    thread = _thread()
    halted = run(
        start_run(
            "fanout",
            {"items": ["a", "b", "c", "d", "e"]},
            thread_id=thread,
            db_url=db_url,
            context={"budgets": {"steps": 3}},  # plan + two tasks
        )
    )
    assert halted.status == "halted"
    assert "step budget 3" in halted.values["halt"]["reason"]
    work = [r for r in _rows(db_url, thread) if r["node"] == "work"]
    assert sorted(r["status"] for r in work) == ["committed"] * 2 + ["halted"] * 3


def test_equal_tasks_of_one_step_are_not_a_loop(db_url: str) -> None:
    thread = _thread()
    done = run(start_run("fanout", {"items": ["x", "x", "x"]}, thread_id=thread, db_url=db_url))
    assert done.status == "completed", done.values.get("halt")
    assert done.values["done"] == ["work:x"] * 3 + ["gather:3"]


def test_retries_of_one_task_are_tries_of_that_task(db_url: str) -> None:
    thread = _thread()
    halted = run(
        start_run("fanout", {"items": ["a", "fail", "c"]}, thread_id=thread, db_url=db_url)
    )
    assert halted.status == "halted"
    assert "told to fail" in halted.values["halt"]["reason"]
    work = [r for r in _rows(db_url, thread) if r["node"] == "work"]
    by_task: dict[str, list[int]] = {}
    for r in work:
        by_task.setdefault(r["task_id"], []).append(r["attempt"])
    assert sorted(sorted(a) for a in by_task.values()) == [[1], [1], [1, 2, 3]]


def test_a_kill_stops_every_fanout_task(tmp_path: Path, db_url: str) -> None:
    thread = _thread()
    marker = tmp_path / "go"
    env = {**os.environ, "LANGGRAPH_STRICT_MSGPACK": "true"}
    payload = json.dumps({"items": ["a", "b", "c", "d", "e"], "wait_for": str(marker)})
    command = [sys.executable, "-m", "waypoint", "run", "fanout", "--input", payload]
    running = subprocess.Popen(
        [*command, "--thread", thread, "--db", db_url],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _rows(db_url, thread) and time.monotonic() < deadline:
            time.sleep(0.1)  # `plan` has started: it waits for the marker
        assert _rows(db_url, thread), "plan never started"
        killed = waypoint_cli("kill", thread, "--reason", "stop the fan-out", "--db", db_url)
        assert killed.returncode == 0, killed.stderr
        marker.touch()
        _, stderr = running.communicate(timeout=120)
    finally:
        if running.poll() is None:
            running.kill()
    assert running.returncode == 4, stderr
    work = [r for r in _rows(db_url, thread) if r["node"] == "work"]
    assert len(work) == 5 and len({r["task_id"] for r in work}) == 5
    assert {r["status"] for r in work} == {"halted"}
    assert all(r["error_message"] == "kill: stop the fan-out" for r in work)


def test_parallel_branches_and_a_command_are_counted_per_task(db_url: str) -> None:
    thread = _thread()
    done = run(start_run("branches", {}, thread_id=thread, db_url=db_url))
    assert done.status == "completed"
    assert sorted(done.values["seen"][:2]) == ["left", "right"]
    assert done.values["seen"][2:] == ["accept"] and done.values["verdict"] == "routed"
    rows = _rows(db_url, thread)
    assert [(r["step"], r["node"]) for r in rows if r["step"] == 1] in (
        [(1, "left"), (1, "right")],
        [(1, "right"), (1, "left")],
    )
    assert [r["node"] for r in rows if r["step"] > 1] == ["route", "accept"]
    assert {r["status"] for r in rows} == {"committed"}
    assert len({r["task_id"] for r in rows}) == 4

    thread = _thread()
    halted = run(
        start_run(
            "branches", {}, thread_id=thread, db_url=db_url, context={"budgets": {"steps": 3}}
        )
    )
    assert halted.status == "halted" and halted.values["halt"]["node"] == "accept"
    assert [(r["node"], r["status"]) for r in _rows(db_url, thread) if r["step"] > 1] == [
        ("route", "committed"),
        ("accept", "halted"),
    ]


def test_every_row_is_written_before_its_body_across_parallel_subgraphs(db_url: str) -> None:
    """Six subgraphs of three nodes each run side by side; their `started` rows share round
    trips (the ledger's group commit), and each node's body finds its own row already
    written."""
    thread, lanes = _thread(), [f"l{n}" for n in range(6)]
    done = run(
        start_run("witness", {"lanes": lanes, "db": db_url}, thread_id=thread, db_url=db_url)
    )
    assert done.status == "completed"
    seen = done.values["seen"]
    assert sorted(seen) == sorted(f"{lane}.{n}:started" for lane in lanes for n in "abc")
    rows = _rows(db_url, thread)
    looks = [r for r in rows if r["node"].startswith("look_")]
    assert len(looks) == 18 and {r["status"] for r in looks} == {"committed"}

"""The functional API (`@entrypoint` / `@task`) under the kit (`tests/kit/graphs/functional.py`).

`waypoint run` and `resume` drive it; the entrypoint and each `@task` call have ledger rows of
their own, committed with the step's checkpoint; a budget halts a task (exit 4: the graph has no
error handler to record the halt in its state, so the ledger holds it).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.conftest import waypoint_cli
from tests.helpers import query, run
from waypoint.runner import resume_thread, start_run


def _thread() -> str:
    return f"func-{uuid.uuid4().hex[:8]}"


def _rows(db_url: str, thread: str) -> list[dict[str, Any]]:
    return query(
        db_url,
        "SELECT run_id, step, node, attempt, status, task_id, checkpoint_ns, checkpoint_id, "
        "error_message FROM waypoint_ledger WHERE thread_id = ? ORDER BY started_at",
        (thread,),
    )


def test_an_entrypoint_runs_with_a_row_per_task(db_url: str) -> None:
    thread = _thread()
    done = run(start_run("functional", {"numbers": [1, 2, 3]}, thread_id=thread, db_url=db_url))
    assert done.status == "completed"
    assert done.values == {"results": [2, 4, 6], "answer": "not asked"}
    rows = _rows(db_url, thread)
    assert sorted(r["node"] for r in rows) == ["double"] * 3 + ["functional"]
    assert len({r["task_id"] for r in rows}) == 4
    assert {r["status"] for r in rows} == {"committed"}
    assert {r["checkpoint_ns"] for r in rows} == {""}  # the tasks run in the entrypoint's graph
    assert len({r["checkpoint_id"] for r in rows}) == 1


def test_an_entrypoint_asks_and_is_resumed_from_the_command_line(sqlite_url: str) -> None:
    thread = _thread()
    started = waypoint_cli(
        "run", "functional", "--input", '{"numbers": [1, 2], "ask": true}', "--thread", thread,
        "--db", sqlite_url, "--json",
    )  # fmt: skip
    assert started.returncode == 3, started.stderr
    assert json.loads(started.stdout)["interrupts"][0]["value"] == {"keep": [2, 4]}
    resumed = waypoint_cli("resume", thread, "--respond", "keep them", "--db", sqlite_url)
    assert resumed.returncode == 0, resumed.stderr
    shown = waypoint_cli("status", thread, "--db", sqlite_url, "--json")
    assert json.loads(shown.stdout)["status"] == "completed"
    rows = _rows(sqlite_url, thread)
    first_run, second_run = rows[0]["run_id"], rows[-1]["run_id"]
    assert first_run != second_run
    assert [(r["node"], r["status"]) for r in rows if r["run_id"] == second_run] == [
        ("functional", "committed")  # the tasks' results were saved: they do not run again
    ]
    assert sorted(r["node"] for r in rows if r["run_id"] == first_run) == [
        "double",
        "double",
        "functional",
    ]


def test_a_budget_halts_a_task_of_an_entrypoint(db_url: str) -> None:
    thread = _thread()
    halted = waypoint_cli(
        "run", "functional", "--input", '{"numbers": [1, 2, 3]}', "--context",
        '{"budgets": {"steps": 2}}', "--thread", thread, "--db", db_url,
    )  # fmt: skip
    assert halted.returncode == 4, halted.stderr
    assert "step budget 2 used up" in halted.stderr and "Traceback" not in halted.stderr
    rows = _rows(db_url, thread)
    doubles = sorted(r["status"] for r in rows if r["node"] == "double")
    # two invocations were allowed (the entrypoint, one task); the step saved no checkpoint
    assert doubles == ["halted", "halted", "not_committed"]
    assert [r["status"] for r in rows if r["node"] == "functional"] == ["not_committed"]


def test_resume_answers_by_python_too(db_url: str) -> None:
    thread = _thread()
    waiting = run(
        start_run("functional", {"numbers": [5], "ask": True}, thread_id=thread, db_url=db_url)
    )
    assert waiting.status == "waiting" and waiting.interrupts[0].node == "functional"
    done = run(resume_thread(thread, {"answer": "yes"}, db_url=db_url))
    assert done.status == "completed"
    assert done.values == {"results": [10], "answer": {"answer": "yes"}}

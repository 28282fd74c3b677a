"""A plain LangGraph graph, written with no Waypoint import, runs under the kit.

`tests/kit/graphs/plain.py` is a `StateGraph` over a `TypedDict`. Through `waypoint run`,
`resume`, `status`, `history`, `kill` and `audit` it gets input validation, the default failure
ladder (a failing node halts the thread with the reason, instead of crashing the command), the
budgets, the kill switch and the ledger; the module's own graph object is untouched.
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import waypoint_cli
from tests.helpers import query, run
from tests.kit.graphs import plain
from waypoint.errors import BadInput
from waypoint.runner import resume_thread, start_run
from waypoint.workflows import load_workflow


def _thread() -> str:
    return f"plain-{uuid.uuid4().hex[:8]}"


def test_a_plain_graph_runs_and_leaves_ledger_rows(db_url: str) -> None:
    thread = _thread()
    done = run(start_run("plain", {"steps": ["ok", "ok"]}, thread_id=thread, db_url=db_url))
    assert done.status == "completed"
    assert done.values["log"] == ["first:ok", "second:ok"]
    rows = query(
        db_url,
        "SELECT node, status FROM waypoint_ledger WHERE thread_id = ? ORDER BY step",
        (thread,),
    )
    assert [(r["node"], r["status"]) for r in rows] == [
        ("first", "committed"),
        ("second", "committed"),
    ]


def test_bad_input_to_a_plain_graph_is_refused_naming_the_field(db_url: str) -> None:
    with pytest.raises(BadInput) as refused:
        run(start_run("plain", {"steps": "ok", "stpes": []}, db_url=db_url))
    message = str(refused.value)
    assert "input.steps:" in message and "input.stpes: unknown field" in message


def test_a_failing_node_gets_the_default_ladder_and_halts_with_the_reason(db_url: str) -> None:
    thread = _thread()
    halted = run(start_run("plain", {"steps": ["ok", "fail"]}, thread_id=thread, db_url=db_url))
    assert halted.status == "halted" and halted.exit_code == 4
    assert halted.values["halt"]["node"] == "second"
    assert "told to fail" in halted.values["halt"]["reason"]
    attempts = query(
        db_url,
        "SELECT count(*) AS n FROM waypoint_ledger WHERE thread_id = ? AND node = 'second'",
        (thread,),
    )
    assert attempts[0]["n"] == 3  # the default ladder's three attempts
    # the module's own graph has no error handler: the kit fitted a copy
    assert not any(name.startswith("__") and "error" in name for name in plain.graph.nodes)
    assert any("error_handler" in name for name in load_workflow("plain").served.nodes)


def test_an_error_message_holding_a_nul_character_is_recorded(db_url: str) -> None:
    """Postgres text cannot hold NUL: the ledger keeps U+FFFD in its place, on both backends.

    Before, on Postgres the row's write failed and the node's row stayed `started`, its error lost.
    """
    thread = _thread()
    halted = run(start_run("plain", {"steps": ["nul"]}, thread_id=thread, db_url=db_url))
    assert halted.status == "halted" and halted.values["halt"]["node"] == "first"
    rows = query(
        db_url,
        "SELECT status, error_class, error_message FROM waypoint_ledger WHERE thread_id = ?",
        (thread,),
    )
    assert [(r["status"], r["error_class"]) for r in rows] == [("committed", "ValueError")]
    assert rows[0]["error_message"] == "first read a NUL character: \ufffd"


def test_a_store_value_holding_a_nul_character_is_kept(db_url: str) -> None:
    """The Postgres Store's values are JSONB, which cannot hold NUL: U+FFFD on both backends.

    Before, on Postgres the node's `put` failed (the run halted); SQLite kept the NUL.
    """
    done = run(start_run("plain", {"steps": ["keep"]}, thread_id=_thread(), db_url=db_url))
    assert done.status == "completed", done.values.get("halt")
    assert done.values["log"] == ["first:kept:read \ufffd from a file", "second:ok"]


def test_a_plain_interrupt_is_answered_and_the_thread_ends(db_url: str) -> None:
    thread = _thread()
    waiting = run(start_run("plain", {"steps": ["ask", "ok"]}, thread_id=thread, db_url=db_url))
    assert waiting.status == "waiting"
    assert waiting.interrupts[0].value == "may first go on?"
    done = run(resume_thread(thread, {"answer": "yes"}, db_url=db_url))
    assert done.status == "completed"
    assert done.values["log"] == ["first:{'answer': 'yes'}", "second:ok"]


def test_cli_commands_serve_a_plain_graph(sqlite_url: str) -> None:
    thread = _thread()
    started = waypoint_cli(
        "run", "plain", "--input", '{"steps": ["ask"]}', "--thread", thread, "--db", sqlite_url
    )
    assert started.returncode == 3, started.stderr
    status = waypoint_cli("status", thread, "--db", sqlite_url, "--json")
    assert json.loads(status.stdout)["status"] == "waiting"
    history = waypoint_cli("history", thread, "--db", sqlite_url, "--json")
    assert history.returncode == 0, history.stderr
    assert json.loads(history.stdout)["total"] >= 2
    killed = waypoint_cli("kill", thread, "--reason", "testing", "--db", sqlite_url)
    assert killed.returncode == 0, killed.stderr
    audit = waypoint_cli("audit", thread, "--db", sqlite_url, "--json")
    assert audit.returncode == 0, audit.stderr
    story = json.loads(audit.stdout)
    assert [row["node"] for row in story["invocations"]] == ["first"]
    assert story["kills"][0]["reason"] == "testing"

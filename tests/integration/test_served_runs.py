"""Runs a LangGraph server starts get the ledger, the guards and the kill switch too.

A server invokes the served graph (`waypoint.serving.support`) with its own checkpointer and a
`configurable` holding the thread and its run id; these tests do the same with the saver of
the stores they open (the Aegra layout: checkpoints and Waypoint's tables in one database).
"""

from __future__ import annotations

import uuid
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from state.support import SupportContext
from tests.conftest import waypoint_cli
from tests.helpers import demo_input, query, run
from waypoint.guards import Budgets
from waypoint.model_guard import ModelCallGuard
from waypoint.persistence.stores import open_stores
from waypoint.served_runs import ServedRuns
from waypoint.workflows import load_workflow

AUTO_REFUND_PATH = [
    "intake",
    "classify",
    "classification_gate",
    "lookup",
    "decide",
    "draft",
    "review_gate",
    "execute",
]


def _server_config(thread_id: str, run_id: str) -> RunnableConfig:
    """What Aegra puts in a run's config: the thread and its run id (and the user)."""
    return {
        "configurable": {"thread_id": thread_id, "run_id": run_id, "user_id": "alice"},
        "run_id": uuid.UUID(run_id),
    }


def _ledger(db_url: str, thread_id: str) -> list[dict[str, Any]]:
    return query(
        db_url,
        "SELECT node, step, status, run_id, actor, checkpoint_id, error_message "
        "FROM waypoint_ledger WHERE thread_id = ? ORDER BY started_at",
        (thread_id,),
    )


def _status(db_url: str, thread_id: str) -> str | None:
    rows = query(db_url, "SELECT status FROM waypoint_threads WHERE thread_id = ?", (thread_id,))
    return str(rows[0]["status"]) if rows else None


async def _serve(
    db_url: str, inputs: list[tuple[Any, str]], thread_id: str, budgets: Budgets | None = None
) -> list[dict[str, Any]]:
    """Run each input on the served graph as a server would; the final states."""
    workflow = load_workflow("support")  # a server imports its graphs (and their tables) first
    async with open_stores(db_url) as stores:
        graph = workflow.served.copy(update={"checkpointer": stores.checkpointer})
        # the run's own budgets, as a request's context sets them (admitted by the graph)
        context = SupportContext() if budgets is None else SupportContext(budgets=budgets)
        ends = []
        for graph_input, run_id in inputs:
            config = _server_config(thread_id, run_id)
            ends.append(await graph.ainvoke(graph_input, config, context=context))
        return ends


def test_served_run_leaves_committed_rows_under_the_servers_run_id(db_url: str) -> None:
    thread, run_id = f"served-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    ticket = demo_input("auto refund", ticket_id=f"T-{uuid.uuid4().hex[:6]}")
    (end,) = run(_serve(db_url, [(ticket, run_id)], thread))
    assert end["resolution"]["kind"] == "refunded"
    rows = _ledger(db_url, thread)
    assert [row["node"] for row in rows] == AUTO_REFUND_PATH
    assert {row["run_id"] for row in rows} == {run_id}
    # LangGraph copies the thread and run ids into the metadata callbacks see, not the user
    assert {row["actor"] for row in rows} == {"server"}
    # settled against the server's checkpoints, found by the run id in their metadata
    assert all(row["status"] == "committed" and row["checkpoint_id"] for row in rows)
    assert _status(db_url, thread) == "completed"  # `waypoint threads`, `kpis` see it


def test_kill_halts_a_served_run_before_its_next_node(db_url: str) -> None:
    thread = f"served-{uuid.uuid4().hex[:8]}"
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    ticket = demo_input("approval needed", ticket_id=f"T-{uuid.uuid4().hex[:6]}")
    run(_serve(db_url, [(ticket, first)], thread))  # waits at the approval question
    assert _status(db_url, thread) == "waiting"
    killed = waypoint_cli(
        "kill",
        thread,
        "--reason",
        "refund policy changed",
        "--db",
        db_url,
        env={"WAYPOINT_ACTOR": "ops"},
    )
    assert killed.returncode == 0, killed.stderr
    answer: Command[Any] = Command(resume={"decisions": [{"type": "approve"}]})
    (end,) = run(_serve(db_url, [(answer, second)], thread))
    assert end["halt"] == {
        "kind": "kill",
        "reason": "refund policy changed",
        "node": "approval",
        "by": "ops",
    }
    assert "resolution" not in end or end["resolution"] is None  # nothing was paid
    resumed = [row for row in _ledger(db_url, thread) if row["run_id"] == second]
    assert [(row["node"], row["status"]) for row in resumed] == [("approval", "halted")]
    assert resumed[0]["error_message"] == "kill: refund policy changed"
    assert not query(db_url, "SELECT * FROM support_payments WHERE thread_id = ?", (thread,))
    assert _status(db_url, thread) == "halted"


def test_budgets_halt_a_served_run(db_url: str) -> None:
    thread, run_id = f"served-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    ticket = demo_input("auto refund", ticket_id=f"T-{uuid.uuid4().hex[:6]}")
    (end,) = run(_serve(db_url, [(ticket, run_id)], thread, budgets=Budgets(steps=3)))
    assert end["halt"]["kind"] == "budget" and end["halt"]["node"] == "lookup"
    statuses = [(row["node"], row["status"]) for row in _ledger(db_url, thread)]
    assert statuses[-1] == ("lookup", "halted")
    assert len(statuses) == 4


def test_the_runner_records_its_own_runs_once() -> None:
    """The served graph carries the server's recorder; the runner's copy does not."""
    served = (load_workflow("support").served.config or {}).get("callbacks")
    assert isinstance(served, list) and [type(c) for c in served] == [ServedRuns, ModelCallGuard]
    compiled = (load_workflow("support").compile(None).config or {}).get("callbacks")
    assert isinstance(compiled, list) and not [c for c in compiled if isinstance(c, ServedRuns)]


def test_a_served_question_is_a_handoff_answered_by_the_servers_user(db_url: str) -> None:
    thread = f"served-{uuid.uuid4().hex[:8]}"
    ticket = demo_input("approval needed", ticket_id=f"T-{uuid.uuid4().hex[:6]}")
    answer: Command[Any] = Command(resume={"decisions": [{"type": "approve"}]})
    run(_serve(db_url, [(ticket, str(uuid.uuid4()))], thread))
    handoffs = "SELECT kind, answered_at, answered_by FROM waypoint_handoffs WHERE thread_id = ?"
    [asked] = query(db_url, handoffs, (thread,))
    assert (asked["kind"], asked["answered_at"]) == ("issue_refund", None)
    run(_serve(db_url, [(answer, str(uuid.uuid4()))], thread))
    assert _status(db_url, thread) == "completed"
    [answered] = query(db_url, handoffs, (thread,))
    assert answered["answered_at"]
    assert answered["answered_by"] == _ledger(db_url, thread)[-1]["actor"]  # the run's actor

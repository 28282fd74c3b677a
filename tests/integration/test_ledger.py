"""The audit ledger: one row per node invocation, consistent with the checkpoints; KPIs."""

from __future__ import annotations

import json
import signal
import uuid
from pathlib import Path

import pytest
from langchain_core.runnables import RunnableConfig

from tests.conftest import waypoint_cli
from tests.helpers import demo_input, query, run, start_paused
from waypoint.audit import thread_audit, workflow_kpis
from waypoint.ledger import RUN_KEY
from waypoint.persistence.observed_savers import ObservedPostgresSaver, ObservedSqliteSaver
from waypoint.persistence.stores import open_stores
from waypoint.runner import resume_thread, start_run


def test_every_invocation_is_in_the_ledger_and_committed(db_url: str) -> None:
    ticket = demo_input("approval needed", ticket_id=f"T-{uuid.uuid4().hex[:6]}")
    waiting = run(start_run("support", ticket, db_url=db_url))
    run(resume_thread(waiting.thread_id, {"decisions": [{"type": "approve"}]}, db_url=db_url))
    story = run(thread_audit(waiting.thread_id, db_url=db_url))
    nodes = [row["node"] for row in story["invocations"]]
    assert nodes == [
        "intake",
        "classify",
        "classification_gate",
        "lookup",
        "decide",
        "draft",
        "review_gate",
        "approval",
        "approval",
        "execute",
    ]
    statuses = [row["status"] for row in story["invocations"]]
    assert statuses.count("interrupted") == 1
    assert all(s == "committed" for s in statuses if s != "interrupted")
    assert all(r["checkpoint_id"] for r in story["invocations"] if r["status"] == "committed")
    by_node = {row["node"]: row for row in story["invocations"]}
    assert by_node["classify"]["provider"] == "offline-keyword-classifier"
    assert by_node["review_gate"]["gate"] == "review" and by_node["review_gate"]["gate_passed"]
    approved = story["invocations"][8]["human_decision"]
    assert approved["decision"] == "approve" and approved["answered_by"]
    # sensitive fields never reach the ledger
    assert "grace@example.com" not in json.dumps(story)


def test_kpis_on_both_backends(db_url: str) -> None:
    for case in ("auto refund", "unknown customer", "shipping question"):
        ticket = demo_input(case, ticket_id=f"T-{uuid.uuid4().hex[:6]}")
        run(start_run("support", ticket, db_url=db_url))
    kpis = run(workflow_kpis(db_url=db_url, graph="support"))
    assert kpis["threads"] >= 3
    assert 0 < kpis["completion_rate"] < 1
    # the unknown customer is handed to a human and waits: escalated, nobody intervened yet
    assert kpis["escalation_rate"] > 0 and kpis["intervention_rate"] <= kpis["escalation_rate"]
    assert kpis["handoffs_by_kind"] and kpis["time_to_resolution_s"]["count"] >= 2
    assert kpis["latency_ms_by_node"]["execute"]["count"] >= 2
    p50, p95 = (kpis["latency_ms_by_node"]["intake"][k] for k in ("p50", "p95"))
    assert 0 < p50 <= p95


def test_crashed_invocation_is_marked_not_committed(db_url: str, tmp_path: Path) -> None:
    thread = f"ledger-{uuid.uuid4().hex[:8]}"
    ticket = demo_input("auto refund", ticket_id=f"T-{uuid.uuid4().hex[:6]}")
    args = ["run", "support", "--input", json.dumps(ticket), "--thread", thread, "--db", db_url]
    proc = start_paused(args, "after:execute", tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    # the dead run left its rows pending: the next run of the thread settles them
    pending = query(
        db_url,
        "SELECT node, status FROM waypoint_ledger WHERE thread_id = ? ORDER BY started_at",
        (thread,),
    )
    assert pending[-1] == {"node": "execute", "status": "started"}
    resumed = waypoint_cli("resume", thread, "--db", db_url)
    assert resumed.returncode == 0, resumed.stderr
    executes = query(
        db_url,
        "SELECT status FROM waypoint_ledger WHERE thread_id = ? AND node = 'execute' "
        "ORDER BY started_at",
        (thread,),
    )
    assert [r["status"] for r in executes] == ["not_committed", "committed"]


def test_rows_name_the_checkpoint_that_holds_their_step(db_url: str) -> None:
    """The saver reports each checkpoint as it is saved; each row names the right one."""
    ticket = demo_input("auto refund", ticket_id=f"T-{uuid.uuid4().hex[:6]}")
    report = run(start_run("support", ticket, db_url=db_url))
    ledger = query(
        db_url,
        "SELECT run_id, step, node, status, checkpoint_id FROM waypoint_ledger "
        "WHERE thread_id = ? ORDER BY started_at",
        (report.thread_id,),
    )
    assert [row["status"] for row in ledger] == ["committed"] * 8

    async def checkpoints() -> dict[tuple[str, int], str]:
        async with open_stores(db_url) as stores:
            assert isinstance(stores.checkpointer, (ObservedSqliteSaver, ObservedPostgresSaver))
            by_step: dict[tuple[str, int], str] = {}
            config: RunnableConfig = {
                "configurable": {"thread_id": report.thread_id, "checkpoint_ns": ""}
            }
            async for saved in stores.checkpointer.alist(config):  # newest first
                metadata = saved.metadata or {}
                key = (str(metadata.get(RUN_KEY)), int(metadata.get("step", -9)))
                by_step[key] = str(saved.checkpoint["id"])
            return by_step

    by_step = run(checkpoints())
    for row in ledger:
        assert row["checkpoint_id"] == by_step[(row["run_id"], row["step"])], row["node"]


def test_a_failure_ladder_escalation_counts_as_a_handoff(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node failing past its fallbacks hands the thread to a human: kind `failure_ladder`."""
    monkeypatch.setenv("WAYPOINT_PLUGINS", "tests.fault_providers")
    monkeypatch.setenv("WAYPOINT_ROUTE_CLASSIFY_TICKET", "malformed-classifier")
    monkeypatch.setenv("WAYPOINT_BREAKER_THRESHOLD", "100")
    ticket = demo_input("auto refund", ticket_id=f"T-{uuid.uuid4().hex[:6]}")
    waiting = run(start_run("support", ticket, db_url=db_url))
    assert waiting.status == "waiting" and waiting.interrupts[0].node == "classify"
    rows = query(
        db_url,
        "SELECT node, kind, answered_at FROM waypoint_handoffs WHERE thread_id = ?",
        (waiting.thread_id,),
    )
    assert [(r["node"], r["kind"], r["answered_at"]) for r in rows] == [
        ("classify", "failure_ladder", None)
    ]
    kpis = run(workflow_kpis(db_url=db_url, graph="support"))
    assert kpis["handoffs_by_kind"]["failure_ladder"]["threads"] >= 1

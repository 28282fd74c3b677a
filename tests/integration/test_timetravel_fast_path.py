"""The fast read of `history`/`show`/`diff` against LangGraph's own `aget_state_history`.

`waypoint.checkpoint_tables` reads the savers' tables directly and `waypoint.checkpoint_facts`
works out next nodes, interrupts and gates the way LangGraph does. These tests build threads with
interrupts (pending and answered), a replay (`fork` copy), an `update_state` fork and a failure
caught by the error handler, on both backends, and check field by field that the rows are those
LangGraph's snapshots give, and that the fast path was really taken (a saver schema or checkpoint
format change must fail here, not fall back silently).
"""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import demo_input, run
from waypoint import timetravel
from waypoint.checkpoint_facts import FactsReader, facts_from_snapshot
from waypoint.checkpoint_tables import tables_for
from waypoint.persistence.stores import open_stores
from waypoint.runner import _config, resume_thread, start_run
from waypoint.workflows import load_workflow

APPROVE = {"decisions": [{"type": "approve"}]}


def _thread(label: str) -> str:
    return f"fast-{label}-{uuid.uuid4().hex[:10]}"


async def _compare(db_url: str, thread_id: str) -> int:
    """Assert fast and LangGraph-built rows agree (all, newest 3, and picked ids); return count."""
    async with open_stores(db_url) as stores:
        graph = load_workflow("support").compile(stores.checkpointer)
        snapshots = [s async for s in graph.aget_state_history(_config(thread_id))]
        tables, reader = tables_for(stores), FactsReader(graph)
        assert tables is not None and reader.supported()

        links = await tables.links(thread_id)
        stored = await tables.read(thread_id, None)
        assert [s.link for s in stored] == links
        assert [link.checkpoint_id for link in links] == [
            s.config["configurable"]["checkpoint_id"] for s in snapshots
        ]
        for saved, snapshot in zip(stored, snapshots, strict=True):
            parent = snapshot.parent_config or {"configurable": {}}
            assert saved.link.parent_id == parent["configurable"].get("checkpoint_id")
            assert saved.link.metadata == snapshot.metadata
            facts = reader.facts(saved)
            assert facts is not None, f"fast path refused {saved.link.checkpoint_id}"
            assert facts == facts_from_snapshot(snapshot), (saved.link.metadata, snapshot.next)

        slow = await timetravel._read_tree_from_snapshots(graph, thread_id)
        wanted = [r.as_json() for r in timetravel._rows(slow, slow.links)]
        fast = await timetravel._read_tree(stores, graph, thread_id)
        assert [r.as_json() for r in timetravel._rows(fast, fast.links)] == wanted

        newest = await timetravel._read_tree(stores, graph, thread_id, newest=3)
        shown = newest.links[:3]
        assert set(newest.facts) == {  # only what the rows need was read: them, their parents
            *(link.checkpoint_id for link in shown),
            *(link.parent_id for link in shown if link.parent_id),
        }
        assert [r.as_json() for r in timetravel._rows(newest, shown)] == wanted[:3]

        picked = [wanted[-1]["checkpoint_id"], wanted[len(wanted) // 2]["checkpoint_id"]]
        rows = await timetravel._rows_at(stores, graph, thread_id, picked)
        assert [r.as_json() for r in rows] == [wanted[-1], wanted[len(wanted) // 2]]
    return len(wanted)


def test_interrupts_replay_and_fork_read_as_langgraph_reads_them(db_url: str) -> None:
    thread_id = _thread("branches")
    ticket = demo_input("approval needed")
    assert run(start_run("support", ticket, thread_id=thread_id, db_url=db_url)).status == "waiting"
    assert run(_compare(db_url, thread_id)) == 9  # the approval asked, not answered yet

    assert run(resume_thread(thread_id, APPROVE, db_url=db_url)).status == "completed"
    history = run(timetravel.thread_history(thread_id, db_url=db_url))
    before_approval = next(r for r in history.rows if r.next == ["approval"])
    before_lookup = next(r for r in history.rows if r.next == ["lookup"])
    assert before_approval.interrupts[0].answered

    report = run(
        timetravel.replay_thread(
            thread_id, before_approval.checkpoint_id, db_url=db_url, allow_effects=True
        )
    )
    assert report.status == "waiting"
    forked = run(
        timetravel.fork_thread(
            thread_id,
            before_lookup.checkpoint_id,
            {"order_id": "O-1"},
            db_url=db_url,
            allow_effects=True,
        )
    )
    assert forked.report.next == ["lookup"]
    assert run(resume_thread(thread_id, db_url=db_url)).status == "waiting"  # escalated
    assert run(_compare(db_url, thread_id)) > 11


def test_a_failed_node_reads_as_langgraph_reads_it(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider that breaks its contract: the task fails (error writes), the ladder asks."""
    monkeypatch.setenv("WAYPOINT_PLUGINS", "tests.fault_providers")
    monkeypatch.setenv("WAYPOINT_ROUTE_CLASSIFY_TICKET", "malformed-classifier")
    monkeypatch.setenv("WAYPOINT_BREAKER_THRESHOLD", "100")
    ticket = demo_input("auto refund", ticket_id=f"T-{uuid.uuid4().hex[:6]}")
    waiting = run(start_run("support", ticket, db_url=db_url))
    assert waiting.status == "waiting" and waiting.interrupts[0].node == "classify"
    assert run(_compare(db_url, waiting.thread_id)) == 3
    head = run(timetravel.thread_history(waiting.thread_id, db_url=db_url)).rows[0]
    assert head.next == ["classify"]

    monkeypatch.setenv("WAYPOINT_ROUTE_CLASSIFY_TICKET", "offline-keyword-classifier")
    assert run(resume_thread(waiting.thread_id, APPROVE, db_url=db_url)).status == "completed"
    run(_compare(db_url, waiting.thread_id))


def test_a_halt_inside_a_gate_reads_as_langgraph_reads_it(db_url: str) -> None:
    ticket = demo_input("unintelligible message", ticket_id=f"T-{uuid.uuid4().hex[:6]}")
    waiting = run(start_run("support", ticket, db_url=db_url))
    history = run(timetravel.thread_history(waiting.thread_id, db_url=db_url))
    before_gate = next(r for r in history.rows if r.next == ["classification_gate"])
    run(
        timetravel.fork_thread(
            waiting.thread_id,
            before_gate.checkpoint_id,
            {"classification": None},
            as_node="classify",
            db_url=db_url,
            override="test: a classification the gate cannot read",
            allow_effects=True,
        )
    )
    assert run(resume_thread(waiting.thread_id, db_url=db_url)).status == "halted"
    assert run(_compare(db_url, waiting.thread_id)) == 7


@pytest.mark.parametrize("limit", [1, 4])
def test_limit_reads_only_the_rows_shown(db_url: str, limit: int) -> None:
    thread_id = _thread("limit")
    ticket = demo_input("approval needed")
    run(start_run("support", ticket, thread_id=thread_id, db_url=db_url))
    full = run(timetravel.thread_history(thread_id, db_url=db_url))
    limited = run(timetravel.thread_history(thread_id, db_url=db_url, limit=limit))
    assert limited.total == full.total == 9
    assert [r.as_json() for r in limited.rows] == [r.as_json() for r in full.rows[:limit]]

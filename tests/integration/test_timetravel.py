"""Time travel on real databases (SQLite file and Postgres): history, show, diff, replay, fork.

Runner-level: each test drives real `support` threads through `waypoint.runner` and
`waypoint.timetravel`, on both backends, and checks what LangGraph stored.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest

from tests.helpers import demo_input, footprint, rows, run, thread_row
from waypoint.errors import BadInput
from waypoint.runner import resume_thread, start_run, thread_status
from waypoint.timetravel import (
    CheckpointRow,
    ThreadHistory,
    diff_checkpoints,
    fork_thread,
    replay_thread,
    show_checkpoint,
    thread_history,
)

NEEDS_APPROVAL = demo_input(  # C-200, O-2, 480.00: waits at approval
    "approval needed",
    customer_id="c-200",  # intake upper-cases it and collapses the double space: `diff` shows it
    message="The chair I ordered  is damaged, please refund it.",
)
APPROVE = {"decisions": [{"type": "approve"}]}
NODES_IN_ORDER = [
    "__start__",
    "intake",
    "classify",
    "classification_gate",
    "lookup",
    "decide",
    "draft",
    "review_gate",
    "approval",
    "execute",
]


def _thread(label: str) -> str:
    return f"tt-{label}-{uuid.uuid4().hex[:10]}"


def _waiting(db_url: str, label: str) -> str:
    thread_id = _thread(label)
    report = run(start_run("support", NEEDS_APPROVAL, thread_id=thread_id, db_url=db_url))
    assert report.status == "waiting"
    return thread_id


def _completed(db_url: str, label: str) -> str:
    thread_id = _waiting(db_url, label)
    report = run(resume_thread(thread_id, APPROVE, db_url=db_url))
    assert report.status == "completed"
    return thread_id


def _history(db_url: str, thread_id: str) -> ThreadHistory:
    return run(thread_history(thread_id, db_url=db_url))


def _row_before(history: ThreadHistory, node: str) -> CheckpointRow:
    """The checkpoint on the head's line whose next task is `node`."""
    rows = [r for r in history.rows if r.next == [node] and r.on_head_line]
    assert len(rows) == 1, [(r.step, r.next) for r in history.rows]
    return rows[0]


def _payments(db_url: str, thread_id: str) -> list[str]:
    return [str(p["amount"]) for p in rows(db_url, "support_payments", thread_id)]


def _index_status(db_url: str, thread_id: str) -> str:
    row = thread_row(db_url, thread_id)
    assert row is not None
    return str(row["status"])


def test_history_of_a_completed_thread(db_url: str) -> None:
    thread_id = _completed(db_url, "hist-done")
    history = _history(db_url, thread_id)
    rows = history.rows

    assert history.total == len(rows) == 11
    assert history.head == rows[0].checkpoint_id
    assert [r.step for r in rows] == list(range(9, -2, -1))  # newest first
    assert [r.source for r in rows] == ["loop"] * 10 + ["input"]
    assert [w for r in reversed(rows) for w in r.writers] == NODES_IN_ORDER
    for newer, older in itertools.pairwise(rows):
        assert newer.parent_id == older.checkpoint_id
    assert rows[-1].parent_id is None
    assert rows[0].is_head and rows[0].next == []
    assert all(r.on_head_line and r.branch == "main" for r in rows)
    assert not any(r.branch_point or r.branch_start for r in rows)
    assert all(r.created_at for r in rows)

    approval = _row_before(history, "approval")
    assert [(i.node, i.action, i.answered) for i in approval.interrupts] == [
        ("approval", "issue_refund", True)
    ]
    assert {(g.field, g.gate, g.passed) for g in rows[0].gates} == {
        ("classification_verdict", "classification", True),
        ("review_verdicts[0]", "review", True),
    }

    limited = run(thread_history(thread_id, db_url=db_url, limit=3))
    assert limited.total == 11
    assert [r.checkpoint_id for r in limited.rows] == [r.checkpoint_id for r in rows[:3]]


def test_history_of_a_waiting_thread(db_url: str) -> None:
    thread_id = _waiting(db_url, "hist-wait")
    history = _history(db_url, thread_id)
    head = history.rows[0]

    assert head.is_head and head.next == ["approval"]
    assert head.writers == ["review_gate"]
    assert [(i.node, i.action, i.answered) for i in head.interrupts] == [
        ("approval", "issue_refund", False)
    ]
    assert [r.source for r in history.rows] == ["loop"] * 8 + ["input"]
    assert [g.gate for g in head.gates] == ["classification", "review"]


def test_show_at_an_old_checkpoint_and_at_the_latest(db_url: str) -> None:
    thread_id = _completed(db_url, "show")
    history = _history(db_url, thread_id)
    before_lookup = _row_before(history, "lookup")

    old = run(show_checkpoint(thread_id, before_lookup.checkpoint_id, db_url=db_url))
    assert old.checkpoint.checkpoint_id == before_lookup.checkpoint_id
    assert old.checkpoint.writers == ["classification_gate"]
    assert not old.checkpoint.is_head
    assert old.values["classification"]["category"] == "refund"
    assert old.values["customer_id"] == "C-200"
    assert "lookup" not in old.values and "resolution" not in old.values
    assert old.as_json()["values"] == old.values

    latest = run(show_checkpoint(thread_id, db_url=db_url))
    assert latest.checkpoint.is_head
    assert latest.checkpoint.checkpoint_id == history.head
    assert latest.values["resolution"]["kind"] == "refunded"

    with pytest.raises(BadInput) as caught:
        run(show_checkpoint(thread_id, "1f000000-0000-6000-8000-000000000000", db_url=db_url))
    assert caught.value.field == "checkpoint"


def test_diff_between_first_and_last_checkpoint(db_url: str) -> None:
    thread_id = _completed(db_url, "diff")
    rows = _history(db_url, thread_id).rows
    first, last = rows[-1], rows[0]

    diff = run(diff_checkpoints(thread_id, first.checkpoint_id, last.checkpoint_id, db_url=db_url))
    by_path = {c.path: c for c in diff.changes}
    assert by_path["classification.category"].kind == "added"
    assert by_path["classification.category"].after == "refund"
    assert by_path["review_verdicts[0].passed"].after is True
    assert by_path["lookup.customer.name"].after == "Grace Hopper"
    assert by_path["resolution.kind"].after == "refunded"
    assert all(c.kind == "added" for c in diff.changes)  # the input checkpoint holds no state

    start = next(r for r in rows if r.step == 0)  # the input, before intake ran
    diff = run(diff_checkpoints(thread_id, start.checkpoint_id, last.checkpoint_id, db_url=db_url))
    by_path = {c.path: c for c in diff.changes}
    assert (by_path["customer_id"].kind, by_path["customer_id"].before) == ("changed", "c-200")
    assert by_path["customer_id"].after == "C-200"
    assert by_path["message"].kind == "changed"
    assert "ticket_id" not in by_path and "order_id" not in by_path  # unchanged
    assert diff.as_json()["from"]["checkpoint_id"] == start.checkpoint_id

    same = run(diff_checkpoints(thread_id, last.checkpoint_id, last.checkpoint_id, db_url=db_url))
    assert same.changes == []


def test_replay_before_approval_asks_again_and_pays_once(db_url: str) -> None:
    thread_id = _completed(db_url, "replay")
    history = _history(db_url, thread_id)
    approval = _row_before(history, "approval")
    old_end = history.rows[0]

    report = run(
        replay_thread(thread_id, approval.checkpoint_id, db_url=db_url, allow_effects=True)
    )
    assert report.status == "waiting"
    assert [i.node for i in report.interrupts] == ["approval"]
    assert run(thread_status(thread_id, db_url=db_url)).status == "waiting"
    assert _index_status(db_url, thread_id) == "waiting"

    after = _history(db_url, thread_id)
    head = after.rows[0]
    assert (head.source, head.parent_id, head.branch_start) == (
        "fork",
        approval.checkpoint_id,
        True,
    )
    assert head.interrupts[0].answered is False
    replayed = next(r for r in after.rows if r.checkpoint_id == approval.checkpoint_id)
    assert replayed.branch_point and replayed.children == 2
    assert not next(r for r in after.rows if r.checkpoint_id == old_end.checkpoint_id).on_head_line

    done = run(resume_thread(thread_id, APPROVE, db_url=db_url))
    assert done.status == "completed"
    assert _payments(db_url, thread_id) == ["480.00"]  # once, not twice


def test_fork_with_an_edited_order_then_resume(db_url: str) -> None:
    thread_id = _waiting(db_url, "fork-order")
    history = _history(db_url, thread_id)
    before_lookup = _row_before(history, "lookup")

    result = run(
        fork_thread(
            thread_id,
            before_lookup.checkpoint_id,
            {"order_id": " O-1 "},
            db_url=db_url,
            allow_effects=True,
        )
    )
    assert result.updated == {"order_id": "O-1"}  # normalised by the state schema
    assert result.as_node == "classification_gate"  # the node that wrote the checkpoint
    assert (result.report.status, result.report.next) == ("incomplete", ["lookup"])
    assert result.report.checkpoint_id == result.checkpoint_id
    assert _index_status(db_url, thread_id) == "incomplete"

    report = run(resume_thread(thread_id, db_url=db_url))
    assert report.status == "waiting"
    assert [i.node for i in report.interrupts] == ["escalate"]
    assert report.values["lookup"]["problems"] == ["order O-1 belongs to another customer"]

    after = _history(db_url, thread_id)
    fork_row = next(r for r in after.rows if r.checkpoint_id == result.checkpoint_id)
    assert (fork_row.source, fork_row.writers, fork_row.branch_start) == (
        "update",
        ["classification_gate"],
        True,
    )
    assert fork_row.parent_id == before_lookup.checkpoint_id and fork_row.on_head_line
    assert after.rows[0].parent_id == result.checkpoint_id
    assert after.rows[0].branch == result.checkpoint_id
    point = next(r for r in after.rows if r.checkpoint_id == before_lookup.checkpoint_id)
    assert point.branch_point and point.children == 2
    old_head = next(r for r in after.rows if r.checkpoint_id == history.head)
    assert not old_head.on_head_line and old_head.branch == "main"

    original = run(show_checkpoint(thread_id, history.head, db_url=db_url))
    assert original.values["order_id"] == "O-2"  # the old branch is untouched


def test_fork_before_decide_as_decide_skips_the_policy(db_url: str) -> None:
    thread_id = _waiting(db_url, "fork-decide")
    history = _history(db_url, thread_id)
    before_decide = _row_before(history, "decide")
    waiting_head = history.rows[0]
    decision = {
        "outcome": "refund",
        "amount": "20.00",
        "currency": "USD",
        "rule": "goodwill amount set by a supervisor",
        "needs_approval": False,
    }

    result = run(
        fork_thread(
            thread_id,
            before_decide.checkpoint_id,
            {"decision": decision},
            as_node="decide",
            db_url=db_url,
            override="goodwill amount set by a supervisor",
            allow_effects=True,
        )
    )
    assert result.as_node == "decide"
    assert result.report.next == ["draft"]  # decide's edge, so decide itself does not run

    report = run(resume_thread(thread_id, db_url=db_url))
    assert report.status == "completed"
    assert report.values["resolution"]["refund_amount"] == "20.00"
    assert report.values["decision"]["rule"] == "goodwill amount set by a supervisor"
    assert _payments(db_url, thread_id) == ["20.00"]

    after = _history(db_url, thread_id)
    fork_row = next(r for r in after.rows if r.checkpoint_id == result.checkpoint_id)
    assert fork_row.writers == ["decide"]
    assert [w for r in after.rows if r.on_head_line for w in r.writers].count("decide") == 1

    diff = run(
        diff_checkpoints(thread_id, waiting_head.checkpoint_id, after.head or "", db_url=db_url)
    )
    by_path = {c.path: c for c in diff.changes}
    assert (by_path["decision.amount"].before, by_path["decision.amount"].after) == (
        "480.00",
        "20.00",
    )
    assert by_path["decision.needs_approval"].kind == "changed"
    assert by_path["decision.approval_reasons[0]"].kind == "removed"
    assert by_path["resolution.kind"].kind == "added"


def test_bad_edits_and_unknown_checkpoints_write_nothing(db_url: str) -> None:
    thread_id = _waiting(db_url, "fork-bad")
    history = _history(db_url, thread_id)
    before_lookup = _row_before(history, "lookup").checkpoint_id
    before = footprint(db_url, thread_id)
    assert before["checkpoints"] == 9 and before["thread"]["status"] == "waiting"

    bad: list[tuple[str, Any, str | None, str]] = [
        (before_lookup, {"order_idx": "O-1"}, None, "order_idx"),  # not a state field
        (before_lookup, {"order_id": 5}, None, "order_id"),  # wrong type
        (before_lookup, {"customer_id": ""}, None, "customer_id"),  # too short
        # protected fields are refused whatever their value
        (before_lookup, {"drafts_in_round": "many"}, None, "update.drafts_in_round"),
        (before_lookup, {"decision": {"outcome": "maybe", "rule": "x"}}, None, "update.decision"),
        (before_lookup, ["order_id"], None, "update"),  # not an object
        (before_lookup, {}, None, "update"),  # nothing to change
        (before_lookup, {"order_id": "O-1"}, "no_such_node", "as-node"),
        # review_gate's router needs a decision, which the state does not have yet before lookup
        (before_lookup, {"order_id": "O-1"}, "review_gate", "as-node"),
        ("no-such-checkpoint", {"order_id": "O-1"}, None, "checkpoint"),
    ]
    for checkpoint_id, update, as_node, field in bad:
        with pytest.raises(BadInput) as caught:
            run(
                fork_thread(
                    thread_id,
                    checkpoint_id,
                    update,
                    as_node=as_node,
                    db_url=db_url,
                    allow_effects=True,
                )
            )
        assert caught.value.field == field, (update, str(caught.value))
        assert field in str(caught.value)
        assert caught.value.exit_code == 2

    with pytest.raises(BadInput) as caught:
        run(replay_thread(thread_id, "no-such-checkpoint", db_url=db_url, allow_effects=True))
    assert caught.value.field == "checkpoint"
    with pytest.raises(BadInput) as caught:
        run(diff_checkpoints(thread_id, before_lookup, "no-such-checkpoint", db_url=db_url))
    assert caught.value.field == "checkpoint"

    assert footprint(db_url, thread_id) == before
    assert run(thread_status(thread_id, db_url=db_url)).status == "waiting"


def test_replay_from_the_end_of_a_run_is_refused(db_url: str) -> None:
    thread_id = _completed(db_url, "replay-end")
    history = _history(db_url, thread_id)
    before = footprint(db_url, thread_id)
    assert before["checkpoints"] == 11

    with pytest.raises(BadInput) as caught:
        run(
            replay_thread(
                thread_id, history.rows[0].checkpoint_id, db_url=db_url, allow_effects=True
            )
        )
    assert caught.value.field == "checkpoint"
    assert footprint(db_url, thread_id) == before


def test_fork_at_the_waiting_approval_reroutes_through_the_review_gate(db_url: str) -> None:
    """The fork runs `review_gate`'s router on the edited decision: now it goes to execute."""
    thread_id = _waiting(db_url, "fork-review")
    head = _history(db_url, thread_id).rows[0]
    assert head.next == ["approval"]
    shown = run(show_checkpoint(thread_id, head.checkpoint_id, db_url=db_url))
    decision = {**shown.values["decision"], "amount": "30.00", "needs_approval": False}

    result = run(
        fork_thread(
            thread_id,
            head.checkpoint_id,
            {"decision": decision},
            db_url=db_url,
            override="supervisor lowered the refund",
            allow_effects=True,
        )
    )
    assert result.as_node == "review_gate"
    assert result.report.next == ["execute"]  # no approval needed any more
    assert result.report.interrupts == []

    report = run(resume_thread(thread_id, db_url=db_url))
    assert report.status == "completed"
    assert _payments(db_url, thread_id) == ["30.00"]

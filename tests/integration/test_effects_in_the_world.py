"""Refunds are right in the world: fresh facts, business keys, the order's total as a ceiling.

Each test works on an order of its own (a copy of a demo order in the CRM tables), on both
backends. A refund decided on facts that changed before paying pays nothing and is decided
again; tickets, threads and forks of one order never refund more than its total; the refund is
keyed by the order and the ticket, not the thread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from decimal import Decimal
from typing import Any

from tests.conftest import PROJECT_ROOT
from tests.helpers import add_order, query, run
from waypoint import open_stores, resume_thread, start_run

APPROVE = {"decisions": [{"type": "approve"}]}


def _order(db_url: str, like: str) -> str:
    async def migrate() -> None:
        import graphs.support  # noqa: F401  (the workflow's tables)

        async with open_stores(db_url):
            pass

    run(migrate())
    return add_order(db_url, f"{like}-{uuid.uuid4().hex[:8]}".upper(), like=like)


def _ticket(order_id: str, customer: str) -> dict[str, Any]:
    return {
        "ticket_id": f"T-{uuid.uuid4().hex[:8]}",
        "customer_id": customer,
        "order_id": order_id,
        "message": "The chair is damaged, please refund it.",
    }


def _paid(db_url: str, order_id: str) -> list[str]:
    rows = query(db_url, "SELECT amount FROM support_payments WHERE order_id = ?", (order_id,))
    return [str(row["amount"]) for row in rows]


def _refunded(db_url: str, order_id: str) -> tuple[str, int]:
    [row] = query(
        db_url,
        "SELECT status, refunded_cents FROM support_orders WHERE order_id = ?",
        (order_id,),
    )
    return str(row["status"]), int(row["refunded_cents"])


def test_a_stale_approval_pays_nothing_and_says_why(db_url: str) -> None:
    order = _order(db_url, "O-2")
    first = run(start_run("support", _ticket(order, "C-200"), db_url=db_url))
    second = run(start_run("support", _ticket(order, "C-200"), db_url=db_url))
    assert (first.status, second.status) == ("waiting", "waiting")  # both asked about 480.00

    paid = run(resume_thread(second.thread_id, APPROVE, db_url=db_url))
    assert paid.values["resolution"]["refund_amount"] == "480.00"
    assert _refunded(db_url, order) == ("refunded", 48000)

    late = run(resume_thread(first.thread_id, APPROVE, db_url=db_url))
    assert late.status == "completed"
    assert late.values["resolution"]["kind"] == "replied"
    assert late.values["resolution"]["refund_amount"] == "0.00"
    assert late.values["decision"]["outcome"] == "deny"
    assert late.values["decision"]["rule"] == "order already refunded"
    assert any("refunded_amount: 0.00 → 480.00" in fact for fact in late.values["stale_facts"])
    assert "unable to refund" in late.values["draft"]["text"]
    assert _paid(db_url, order) == ["480.00"]
    ledger = query(
        db_url,
        "SELECT node, summary FROM waypoint_ledger WHERE thread_id = ? ORDER BY started_at",
        (first.thread_id,),
    )
    nodes = [row["node"] for row in ledger]
    assert nodes[-5:] == ["execute", "decide", "draft", "review_gate", "execute"], nodes
    assert any("stale_facts" in str(row["summary"]) for row in ledger if row["node"] == "execute")


def test_partial_refunds_of_one_order_sum_to_its_total_at_most(db_url: str) -> None:
    order = _order(db_url, "O-2")
    first = run(start_run("support", _ticket(order, "C-200"), db_url=db_url))
    edit = {
        "decisions": [
            {"type": "edit", "edited_action": {"name": "issue_refund", "args": {"amount": "200"}}}
        ]
    }
    run(resume_thread(first.thread_id, edit, db_url=db_url))  # redrafted, then paid
    assert _paid(db_url, order) == ["200.00"]

    second = run(start_run("support", _ticket(order, "C-200"), db_url=db_url))
    assert second.values["decision"]["amount"] == "280.00"  # what is left of 480.00
    run(resume_thread(second.thread_id, APPROVE, db_url=db_url))
    third = run(start_run("support", _ticket(order, "C-200"), db_url=db_url))
    assert third.values["decision"]["outcome"] == "deny"
    assert sorted(_paid(db_url, order)) == ["200.00", "280.00"]
    assert _refunded(db_url, order) == ("refunded", 48000)


def test_the_refund_is_keyed_by_order_and_ticket_not_by_thread(db_url: str) -> None:
    order = _order(db_url, "O-1")
    ticket = _ticket(order, "C-100")
    first = run(start_run("support", ticket, db_url=db_url))
    again = run(start_run("support", ticket, db_url=db_url))  # the same ticket, a new thread
    assert first.thread_id != again.thread_id
    assert first.values["resolution"]["refund_amount"] == "25.00"
    # the second thread of the ticket finds its refund paid: it reports it, pays nothing more
    assert again.values["decision"]["rule"] == "refund already paid for this ticket"
    assert again.values["resolution"]["refund_amount"] == "25.00"
    assert again.values["resolution"]["effects_replayed"] is True
    assert again.values["resolution"]["payment_id"] == first.values["resolution"]["payment_id"]
    assert _paid(db_url, order) == ["25.00"]
    assert _refunded(db_url, order) == ("refunded", 2500)


def test_five_tickets_for_one_order_from_five_processes_pay_its_total_once(db_url: str) -> None:
    order = _order(db_url, "O-1")
    env = {**os.environ, "LANGGRAPH_STRICT_MSGPACK": "true"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "waypoint",
                "run",
                "support",
                "--input",
                json.dumps(_ticket(order, "C-100")),
                "--db",
                db_url,
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(5)
    ]
    codes = [proc.wait(timeout=180) for proc in procs]
    assert codes == [0] * 5, [p.stderr.read() if p.stderr else "" for p in procs]
    total = sum(Decimal(amount) for amount in _paid(db_url, order))
    assert total == Decimal("25.00")
    assert _refunded(db_url, order) == ("refunded", 2500)


def test_a_fork_of_a_paid_thread_onto_a_refunded_order_pays_nothing(db_url: str) -> None:
    """Time travel is safe: the fork names its effects, and acting it re-reads the facts."""
    from waypoint.errors import BadInput
    from waypoint.timetravel import fork_thread, replay_thread, thread_history

    paid_order, other_order = _order(db_url, "O-1"), _order(db_url, "O-1")
    done = run(start_run("support", _ticket(paid_order, "C-100"), db_url=db_url))
    other = run(start_run("support", _ticket(other_order, "C-100"), db_url=db_url))
    assert done.status == other.status == "completed"
    assert _paid(db_url, paid_order) == _paid(db_url, other_order) == ["25.00"]

    history = run(thread_history(done.thread_id, db_url=db_url))
    before_lookup = next(row for row in history.rows if row.next == ["lookup"])
    checkpoints = len(history.rows)
    try:
        run(fork_thread(done.thread_id, before_lookup.checkpoint_id, {"order_id": other_order},
                        db_url=db_url))  # fmt: skip
        raise AssertionError("a fork that may pay ran without --allow-effects")
    except BadInput as refused:
        assert refused.field == "allow-effects"
        assert "support.payment at execute (performed before" in str(refused)
    assert len(run(thread_history(done.thread_id, db_url=db_url)).rows) == checkpoints

    forked = run(
        fork_thread(
            done.thread_id,
            before_lookup.checkpoint_id,
            {"order_id": other_order},
            db_url=db_url,
            allow_effects=True,
        )
    )
    assert [e.kind for e in forked.effects] == ["support.payment", "support.reply"]
    again = run(resume_thread(done.thread_id, db_url=db_url))
    assert again.status == "completed"
    assert again.values["decision"]["outcome"] == "deny"  # the other order is refunded already
    assert _paid(db_url, other_order) == ["25.00"]

    replayed = run(
        replay_thread(done.thread_id, before_lookup.checkpoint_id, db_url=db_url,
                      allow_effects=True)
    )  # fmt: skip
    assert replayed.status == "completed"
    assert [e.performed_before for e in replayed.planned_effects] == [True, True]
    assert _paid(db_url, paid_order) == ["25.00"]  # the replay found this ticket's refund

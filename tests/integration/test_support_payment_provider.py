"""`support` pays refunds at a payment provider through the outbox when one is configured.

Against the FAKE payment service (`payments_provider`), on both backends: the refund is one
payment at the provider, keyed by the refund's business key; a SIGKILL after the provider
applied it but before the answer was recorded, then `resume`, still pays once; an outage past
the node's retries hands the ticket to a human, and approving the retry once the provider is
back pays once; `compensate` reverses it once, and puts the order's refunded amount back in
the same transaction as it records the reversal (also when killed between the two).
"""

from __future__ import annotations

import json
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import waypoint_cli
from tests.helpers import fresh_input, query, run, start_paused
from waypoint.fakes.payments import FakePayments
from waypoint.runner import resume_thread, start_run

APPROVE = {"decisions": [{"type": "approve"}]}


def _payment_key(ticket: dict[str, Any]) -> str:
    from nodes.support.crm import refund_key

    return refund_key(ticket["order_id"], ticket["ticket_id"])


def test_a_refund_is_one_payment_at_the_provider(
    db_url: str, payments_provider: FakePayments
) -> None:
    ticket = fresh_input(db_url, "auto refund")
    thread = f"prov-{uuid.uuid4().hex[:8]}"
    done = run(start_run("support", ticket, thread_id=thread, db_url=db_url))
    assert done.status == "completed", done.values
    assert done.values["resolution"]["refund_amount"] == "25.00"
    key = _payment_key(ticket)
    assert payments_provider.applied(key) == {"payments": 1, "reversals": 0}
    rows = query(db_url, "SELECT status FROM waypoint_outbox WHERE effect_key = ?", (key,))
    assert rows == [{"status": "delivered"}]
    assert _order(db_url, ticket) == {"status": "refunded", "refunded_cents": 2500}
    compensated = waypoint_cli(
        "compensate", thread, "--reason", "refund by mistake", "--db", db_url
    )
    assert compensated.returncode == 0, compensated.stderr
    assert payments_provider.applied(key) == {"payments": 1, "reversals": 1}
    # the CRM reads as before the refund: a later ticket may refund the order again
    assert _order(db_url, ticket) == {"status": "delivered", "refunded_cents": 0}
    [payment] = query(
        db_url, "SELECT reversed_at FROM support_payments WHERE effect_key = ?", (key,)
    )
    assert payment["reversed_at"] is not None
    again = waypoint_cli("compensate", thread, "--reason", "twice", "--db", db_url)
    assert again.returncode == 2 and "compensated already" in again.stderr
    assert _order(db_url, ticket) == {"status": "delivered", "refunded_cents": 0}


def _order(db_url: str, ticket: dict[str, Any]) -> dict[str, Any]:
    [row] = query(
        db_url,
        "SELECT status, refunded_cents FROM support_orders WHERE order_id = ?",
        (ticket["order_id"],),
    )
    return {"status": row["status"], "refunded_cents": int(row["refunded_cents"])}


def test_a_reversal_killed_before_it_is_recorded_puts_the_order_back_once(
    sqlite_url: str, payments_provider: FakePayments, tmp_path: Path
) -> None:
    db_url = sqlite_url
    ticket = fresh_input(db_url, "auto refund")
    thread = f"prov-{uuid.uuid4().hex[:8]}"
    done = run(start_run("support", ticket, thread_id=thread, db_url=db_url))
    assert done.status == "completed", done.values
    key = _payment_key(ticket)
    point = "outbox:support.payment.compensation:before_record"
    proc = start_paused(["compensate", thread, "--reason", "revoked", "--db", db_url], point,
                        tmp_path)  # fmt: skip
    proc.send_signal(signal.SIGKILL)  # the provider reversed it; nothing recorded here
    proc.wait(timeout=30)
    assert payments_provider.applied(key) == {"payments": 1, "reversals": 1}
    assert _order(db_url, ticket) == {"status": "refunded", "refunded_cents": 2500}
    finished = waypoint_cli("compensate", thread, "--reason", "finish it", "--db", db_url)
    assert finished.returncode == 0, finished.stderr
    assert payments_provider.applied(key) == {"payments": 1, "reversals": 1}
    assert _order(db_url, ticket) == {"status": "delivered", "refunded_cents": 0}


@pytest.mark.parametrize(
    "point",
    [
        "effect:support.payment:before_commit",
        "effect:support.payment:after_commit",
        "outbox:support.payment:before_send",
        "outbox:support.payment:before_record",
    ],
)
def test_killed_around_the_provider_call_then_resumed_pays_once(
    db_url: str, payments_provider: FakePayments, tmp_path: Path, point: str
) -> None:
    ticket = fresh_input(db_url, "auto refund")
    thread = f"prov-{uuid.uuid4().hex[:8]}"
    proc = start_paused(
        ["run", "support", "--input", json.dumps(ticket), "--thread", thread, "--db", db_url],
        point,
        tmp_path,
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    key = _payment_key(ticket)
    applied = payments_provider.applied(key)["payments"]
    assert applied == (1 if point.endswith("before_record") else 0)
    resumed = waypoint_cli("resume", thread, "--db", db_url, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["values"]["resolution"]["refund_amount"] == "25.00"
    assert payments_provider.applied(key)["payments"] == 1


def test_an_outage_escalates_and_the_approved_retry_pays_once(
    db_url: str, payments_provider: FakePayments
) -> None:
    ticket = fresh_input(db_url, "auto refund")
    thread = f"prov-{uuid.uuid4().hex[:8]}"
    payments_provider.inject(outage_seconds=60)
    waiting = run(start_run("support", ticket, thread_id=thread, db_url=db_url))
    assert waiting.status == "waiting", waiting.values
    assert "DeliveryPending" in json.dumps(waiting.interrupts[0].value)
    key = _payment_key(ticket)
    assert payments_provider.applied(key)["payments"] == 0
    payments_provider.inject(outage_seconds=0)
    done = run(resume_thread(thread, APPROVE, db_url=db_url))
    assert done.status == "completed", done.values
    assert payments_provider.applied(key)["payments"] == 1


def test_the_demo_pays_its_refunds_at_a_fake_provider(sqlite_url: str) -> None:
    shown = waypoint_cli("demo", "--db", sqlite_url, unset=("WAYPOINT_PROVIDER_PAYMENTS_URL",))
    assert shown.returncode == 0, shown.stderr
    assert "applied 2 payment(s)" in " ".join(shown.stdout.split())
    rows = query(sqlite_url, "SELECT status FROM waypoint_outbox WHERE kind = 'support.payment'")
    assert rows == [{"status": "delivered"}] * 2


def test_five_tickets_for_one_order_from_five_processes_pay_its_total_at_the_provider(
    db_url: str, payments_provider: FakePayments
) -> None:
    import os
    import sqlite3
    import subprocess
    import sys
    from contextlib import closing
    from decimal import Decimal

    from tests.conftest import PROJECT_ROOT
    from tests.integration.test_effects_in_the_world import _order, _paid, _ticket

    order = _order(db_url, "O-1")
    env = {**os.environ, "LANGGRAPH_STRICT_MSGPACK": "true"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "waypoint", "run", "support", "--input",
             json.dumps(_ticket(order, "C-100")), "--db", db_url],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(5)
    ]  # fmt: skip
    codes = [proc.wait(timeout=180) for proc in procs]
    assert codes == [0] * 5, [p.stderr.read() if p.stderr else "" for p in procs]
    assert sum(Decimal(amount) for amount in _paid(db_url, order)) == Decimal("25.00")
    with closing(sqlite3.connect(payments_provider.db)) as ledger:
        at_provider = [
            Decimal(row[0])
            for row in ledger.execute(
                "SELECT amount FROM payments WHERE reference LIKE ?", (f'%"{order}"%',)
            )
        ]
    assert sum(at_provider) == Decimal("25.00"), at_provider

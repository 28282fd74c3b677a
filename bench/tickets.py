"""The tickets the benchmarks run, and the human answer they resume with.

Every run gets a fresh ticket id and thread id: the `execute` node keys its refund by order and
ticket, so a reused id would replay the first run's side effects instead of doing the work again.
The demo CRM is a real table a refund moves (O-1 refunded once stays refunded), so the bench's
databases carry a trigger that puts the two demo orders back after each refund
(`keep_orders_refundable`): every run decides, pays and replies as the first one did.
"""

from __future__ import annotations

import uuid
from typing import Any

from waypoint.persistence.sql import Database

AUTO_REFUND = {
    "customer_id": "C-100",
    "order_id": "O-1",
    "message": "My mug arrived broken. I would like a refund, please.",
}
"""C-100/O-1: refunded without a human (8 nodes, payment and reply written)."""

NEEDS_APPROVAL = {
    "customer_id": "C-200",
    "order_id": "O-2",
    "message": "The chair I ordered is damaged, please refund it.",
}
"""C-200/O-2: above the approval threshold, so the run waits at `approval`."""

APPROVE: dict[str, Any] = {"decisions": [{"type": "approve"}]}
"""The HITL response that approves the pending action."""


def unique(prefix: str) -> str:
    """A fresh id such as `bench-1a2b3c4d5e6f`."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def auto_refund() -> dict[str, Any]:
    """A new auto-refund ticket (fresh ticket id)."""
    return {"ticket_id": unique("T-B"), **AUTO_REFUND}


def needs_approval() -> dict[str, Any]:
    """A new ticket that stops at the approval interrupt (fresh ticket id)."""
    return {"ticket_id": unique("T-A"), **NEEDS_APPROVAL}


BENCH_ORDERS = ("O-1", "O-2")

_SQLITE_TRIGGER = (
    "CREATE TRIGGER IF NOT EXISTS bench_orders_refundable AFTER UPDATE OF refunded_cents "
    "ON support_orders WHEN NEW.order_id IN ('O-1', 'O-2') AND NEW.refunded_cents > 0 "
    "BEGIN UPDATE support_orders SET refunded_cents = 0, status = 'delivered' "
    "WHERE order_id = NEW.order_id; END"
)
_POSTGRES_TRIGGER = (
    "CREATE OR REPLACE FUNCTION bench_orders_refundable() RETURNS trigger AS $$ "
    "BEGIN IF NEW.order_id IN ('O-1', 'O-2') THEN NEW.refunded_cents := 0; "
    "NEW.status := 'delivered'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
    "DROP TRIGGER IF EXISTS bench_orders_refundable ON support_orders",
    "CREATE TRIGGER bench_orders_refundable BEFORE UPDATE ON support_orders "
    "FOR EACH ROW EXECUTE FUNCTION bench_orders_refundable()",
)


async def keep_orders_refundable(db: Database) -> None:
    """Install the bench-only trigger that keeps the demo orders refundable run after run.

    Bench databases only: a real CRM must never forget a refund.
    """
    statements = (_SQLITE_TRIGGER,) if db.kind == "sqlite" else _POSTGRES_TRIGGER
    # one installer at a time: bench worker processes start together, and Postgres refuses two
    # concurrent CREATE OR REPLACE of one function ("tuple concurrently updated")
    async with db.transaction(lock_key="bench:keep_orders_refundable") as tx:
        for statement in statements:
            await tx.execute(statement)

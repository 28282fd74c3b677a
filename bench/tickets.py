"""The tickets the benchmarks run, and the human answer they resume with.

Every run gets a fresh ticket id and thread id: the `execute` node keys its payment and outbox
rows by thread and ticket, so a reused id would replay the first run's side effects instead of
doing the work again.
"""

from __future__ import annotations

import uuid
from typing import Any

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

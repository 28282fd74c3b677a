"""decide: the refund policy, as plain code."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from langgraph.runtime import Runtime

from state.support import RefundDecision, SupportContext, SupportState
from waypoint import update


def refund_policy(state: SupportState, approval_threshold: Decimal) -> RefundDecision:
    """Full refund of the order total unless already refunded; big or risky ones need a human."""
    assert state.classification is not None and state.lookup is not None
    customer, order = state.lookup.customer, state.lookup.order
    if state.classification.category != "refund" or order is None:
        return RefundDecision(
            outcome="no_refund", rule=f"no refund requested ({state.classification.category})"
        )
    if order.status == "refunded":
        return RefundDecision(
            outcome="deny", currency=order.currency, rule="order already refunded"
        )
    reasons: list[str] = []
    if order.total > approval_threshold:
        reasons.append(f"amount {order.total} above the approval threshold {approval_threshold}")
    if customer is not None and customer.fraud_flag:
        reasons.append("customer is fraud-flagged")
    return RefundDecision(
        outcome="refund",
        amount=order.total,
        currency=order.currency,
        rule="full refund of the order total",
        needs_approval=bool(reasons),
        approval_reasons=reasons,
    )


async def decide(state: SupportState, runtime: Runtime[SupportContext]) -> dict[str, Any]:
    """Apply the policy with the run's approval threshold; start a new drafting round."""
    decision = refund_policy(state, runtime.context.approval_threshold)
    return update(
        decision=decision,
        drafts_in_round=0,
        reviewer_feedback=[],
        draft_revisions_allowed=runtime.context.max_draft_revisions,
    )

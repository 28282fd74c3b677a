"""decide: the refund policy, as plain code."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from langgraph.runtime import Runtime

from nodes.support.crm import refund_key, refund_paid
from state.support import RefundDecision, SupportContext, SupportState
from waypoint import run_database, update


def refund_policy(
    state: SupportState, approval_threshold: Decimal, paid_for_ticket: Decimal | None = None
) -> RefundDecision:
    """Refund what is left of the order total; big or risky refunds need a human.

    The decision records the CRM facts it rests on; `execute` reads them again before paying.
    `paid_for_ticket` is what this ticket's refund already paid (a replay, a fork or a second
    thread of the ticket): the decision is then that refund, which `execute` replays.
    """
    assert state.classification is not None and state.lookup is not None
    customer, order = state.lookup.customer, state.lookup.order
    if state.classification.category != "refund" or order is None:
        return RefundDecision(
            outcome="no_refund", rule=f"no refund requested ({state.classification.category})"
        )
    facts = state.lookup.facts()
    if paid_for_ticket is not None:
        return RefundDecision(
            outcome="refund",
            amount=paid_for_ticket,
            currency=order.currency,
            rule="refund already paid for this ticket",
            facts=facts,
        )
    remaining = order.total - order.refunded_amount
    if order.status == "refunded" or remaining <= 0:
        return RefundDecision(
            outcome="deny", currency=order.currency, rule="order already refunded", facts=facts
        )
    reasons: list[str] = []
    if remaining > approval_threshold:
        reasons.append(f"amount {remaining} above the approval threshold {approval_threshold}")
    if customer is not None and customer.fraud_flag:
        reasons.append("customer is fraud-flagged")
    rule = "full refund of the order total"
    if order.refunded_amount > 0:
        rule = "refund of what is left of the order total"
    return RefundDecision(
        outcome="refund",
        amount=remaining,
        currency=order.currency,
        rule=rule,
        needs_approval=bool(reasons),
        approval_reasons=reasons,
        facts=facts,
    )


async def decide(state: SupportState, runtime: Runtime[SupportContext]) -> dict[str, Any]:
    """Apply the policy with the run's approval threshold; start a new drafting round.

    It runs again when `execute` found the CRM changed since the last decision; an approval
    given for the last decision does not carry over to the new one.
    """
    paid = None
    if state.order_id is not None:
        paid = await refund_paid(await run_database(), refund_key(state.order_id, state.ticket_id))
    decision = refund_policy(state, runtime.context.approval_threshold, paid)
    fields: dict[str, Any] = {}
    if state.human is not None and state.human.step == "approval":
        fields["human"] = None  # an approval answers one decision: a new one is asked again
    return update(
        decision=decision,
        drafts_in_round=0,
        reviewer_feedback=[],
        draft_revisions_allowed=runtime.context.max_draft_revisions,
        **fields,
    )

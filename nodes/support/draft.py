"""draft: a reply stating the decision, from the `draft_reply` capability."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from nodes.support.capabilities import DRAFT, DraftRequest
from state.support import Draft, SupportContext, SupportState
from waypoint import update


async def draft(state: SupportState, runtime: Runtime[SupportContext]) -> dict[str, Any]:
    """Write (or rewrite, with the review gate's feedback) the reply."""
    assert state.decision is not None and state.lookup is not None
    assert state.lookup.customer is not None and state.classification is not None
    attempt = state.drafts_in_round + 1
    request = DraftRequest(
        ticket_id=state.ticket_id,
        customer_name=state.lookup.customer.name,
        category=state.classification.category,
        outcome=state.decision.outcome,
        amount=state.decision.amount,
        currency=state.decision.currency,
        order_id=state.order_id,
        attempt=attempt,
        feedback=state.reviewer_feedback,
    )
    text = await DRAFT.call(request, model=runtime.context.model)
    return update(draft=Draft(text=text.text, attempt=attempt), drafts_in_round=attempt)

"""lookup: customer and order from the CRM, through the `crm_lookup` capability."""

from __future__ import annotations

from typing import Any, Literal

from nodes.support.capabilities import LOOKUP, LookupRequest
from state.support import SupportState
from waypoint import update


async def lookup(state: SupportState) -> dict[str, Any]:
    """Fetch the records; problems (unknown ids, someone else's order) are kept, not guessed."""
    assert state.classification is not None, "classify runs before lookup"
    request = LookupRequest(
        customer_id=state.customer_id,
        order_id=state.order_id,
        category=state.classification.category,
    )
    result = await LOOKUP.call(request)
    return update(lookup=result)


def route_after_lookup(state: SupportState) -> Literal["escalate", "decide"]:
    """Anything the CRM could not confirm goes to a human."""
    if state.lookup is None or state.lookup.problems or state.lookup.customer is None:
        return "escalate"
    return "decide"

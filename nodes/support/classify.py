"""classify: ask the `classify_ticket` capability what the customer wants."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from nodes.support.capabilities import CLASSIFY, ClassifyRequest
from state.support import SupportContext, SupportState
from waypoint import update


async def classify(state: SupportState, runtime: Runtime[SupportContext]) -> dict[str, Any]:
    """Category, confidence and rationale from the configured provider."""
    request = ClassifyRequest(message=state.message, has_order_id=state.order_id is not None)
    result = await CLASSIFY.call(request, model=runtime.context.model)
    return update(classification=result)

"""intake: validate and normalise the ticket."""

from __future__ import annotations

import re
from typing import Any

from state.support import SCHEMA_VERSION, SupportState
from waypoint import update


def _normalise_id(value: str) -> str:
    return value.strip().upper()


async def intake(state: SupportState) -> dict[str, Any]:
    """Upper-case the ids, collapse white space in the message, stamp the schema version."""
    return update(
        ticket_id=state.ticket_id.strip(),
        customer_id=_normalise_id(state.customer_id),
        order_id=_normalise_id(state.order_id) if state.order_id else None,
        message=re.sub(r"\s+", " ", state.message).strip(),
        schema_version=SCHEMA_VERSION,
    )

"""Kit test graph: one question with a deadline and a default outcome, then an action.

`on_timeout` and `seconds` come from the input, so a test picks the default and how soon it
applies (`waypoint sweep`).
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, ConfigDict

from waypoint import Halt, add_node, ask_human, build_request


class DeadlineInput(BaseModel):
    """The default outcome and how long the question waits for a person."""

    model_config = ConfigDict(extra="forbid")

    on_timeout: Literal["reject", "approve", "escalate"] = "reject"
    seconds: float = 0.3
    escalate_to: str | None = None


class DeadlineState(DeadlineInput):
    """State: the answer and whether the action ran."""

    outcome: str | None = None
    acted: bool = False
    failure: dict[str, Any] | None = None
    halt: Halt | None = None


async def ask(state: DeadlineState) -> dict[str, Any]:
    """Ask whether to ship; the default applies when nobody answers in time."""
    request = build_request(
        action="ship_order",
        args={"order": "O-1"},
        description="Ship order O-1?",
        allowed=["approve", "reject"],
        deadline_seconds=state.seconds,
        on_timeout=state.on_timeout,
        escalate_to=state.escalate_to,
    )
    return {"outcome": ask_human(request).type}


async def act(state: DeadlineState) -> dict[str, Any]:
    """Ship only when approved."""
    return {"acted": state.outcome == "approve"}


builder = StateGraph(DeadlineState, input_schema=DeadlineInput)
add_node(builder, "ask", ask)
add_node(builder, "act", act)
builder.add_edge(START, "ask")
builder.add_edge("ask", "act")
builder.add_edge("act", END)
graph = builder.compile(name="deadlines")

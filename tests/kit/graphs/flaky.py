"""A two-node kit test graph whose second node fails until a marker file exists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy
from pydantic import BaseModel, ConfigDict

from waypoint import Budgets, Halt, Ladder, add_node


class FlakyInput(BaseModel):
    """The file whose existence lets `flaky` succeed."""

    model_config = ConfigDict(extra="forbid")

    marker: str


class FlakyState(FlakyInput):
    """State: the input, how far it got, and the kit's failure fields."""

    prepared: bool = False
    done: bool = False
    failure: dict[str, Any] | None = None
    halt: Halt | None = None


class FlakyContext(BaseModel):
    """Run settings: the kit's budgets."""

    model_config = ConfigDict(extra="forbid")

    budgets: Budgets = Budgets(steps=20)


async def prepare(state: FlakyState) -> dict[str, Any]:
    """Always succeeds."""
    return {"prepared": True}


async def flaky(state: FlakyState) -> dict[str, Any]:
    """Fails while the marker file is missing."""
    if not Path(state.marker).exists():
        raise FileNotFoundError(f"marker {state.marker} missing")
    return {"done": True}


LADDERS = {
    "prepare": Ladder(retry=RetryPolicy(max_attempts=1), last="fail"),
    "flaky": Ladder(retry=RetryPolicy(max_attempts=1), last="fail"),
}


def build() -> StateGraph[FlakyState, FlakyContext, FlakyInput, FlakyState]:
    """prepare → flaky → end."""
    builder = StateGraph(FlakyState, context_schema=FlakyContext, input_schema=FlakyInput)
    for name, action in (("prepare", prepare), ("flaky", flaky)):
        add_node(builder, name, action, LADDERS[name])
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "flaky")
    builder.add_edge("flaky", END)
    return builder


graph = build().compile(name="flaky")

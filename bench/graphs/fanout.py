"""A plain LangGraph fan-out: `plan` sends one `work` task per item (`Send`), `join` sums them.

No Waypoint import: the benchmark runs it bare and under the kit, on the same saver.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send


class FanoutState(TypedDict, total=False):
    """The items to work on, each task's result, and their sum."""

    items: list[int]
    item: int
    results: Annotated[list[int], operator.add]
    total: int


def plan(state: FanoutState) -> dict[str, Any]:
    """Nothing to decide: the items are the plan."""
    return {}


def fan_out(state: FanoutState) -> list[Send]:
    """One `work` task per item."""
    return [Send("work", {"item": item}) for item in state.get("items", [])]


def work(state: FanoutState) -> dict[str, Any]:
    """One item's work."""
    return {"results": [state.get("item", 0) * 2]}


def join(state: FanoutState) -> dict[str, Any]:
    """Fan in: the sum of the results."""
    return {"total": sum(state.get("results", []))}


def build() -> StateGraph[FanoutState]:
    """The uncompiled graph (the bare variant compiles it on the benchmark's saver)."""
    builder = StateGraph(FanoutState)
    builder.add_node("plan", plan)
    builder.add_node("work", work)
    builder.add_node("join", join)
    builder.add_edge(START, "plan")
    builder.add_conditional_edges("plan", fan_out, ["work"])
    builder.add_edge("work", "join")
    builder.add_edge("join", END)
    return builder


graph = build().compile(name="fanout")

"""Kit test graphs: every shape LangGraph has, in plain LangGraph with no Waypoint import.

- `fanout`: `plan` sends one `work` task per item (`Send`); a reducer gathers their results.
  An item `fail` raises a transient error every time; `plan` waits for the file named by
  `wait_for` (if any) before it returns, so a test can request a kill while it waits.
- `subgraph_node`: a compiled graph (`inner`: `inner_a` → `inner_b`) is a node of the parent.
- `subgraph_call`: a node invokes the same inner graph itself.
- `branches`: two parallel branches joined by a reducer; `route` goes on with
  `Command(goto=..., update=...)`.
"""

from __future__ import annotations

import operator
import time
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Send


class FanoutState(TypedDict, total=False):
    """The items to work on and what each task did."""

    items: list[str]
    wait_for: str
    done: Annotated[list[str], operator.add]


class WorkInput(TypedDict):
    """One fan-out task's item."""

    item: str


def plan(state: FanoutState) -> dict[str, Any]:
    """Waits for the file named by `wait_for`, if any (at most 60 s)."""
    marker = state.get("wait_for")
    deadline = time.monotonic() + 60
    while marker and not Path(marker).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return {}


def work(state: WorkInput) -> dict[str, Any]:
    """Does one item; `fail` fails (a transient error) every time."""
    if state["item"] == "fail":
        raise ConnectionError("work was told to fail")
    return {"done": [f"work:{state['item']}"]}


def fan_out(state: FanoutState) -> list[Send]:
    """One `work` task per item."""
    return [Send("work", {"item": item}) for item in state.get("items", [])]


def gather(state: FanoutState) -> dict[str, Any]:
    """Runs once after every task."""
    return {"done": [f"gather:{len(state.get('done', []))}"]}


_fanout = StateGraph(FanoutState)
_fanout.add_node("plan", plan)
_fanout.add_node("work", work, input_schema=WorkInput)
_fanout.add_node("gather", gather)
_fanout.add_edge(START, "plan")
_fanout.add_conditional_edges("plan", fan_out, ["work"])
_fanout.add_edge("work", "gather")
_fanout.add_edge("gather", END)
fanout = _fanout.compile(name="fanout")


class InnerState(TypedDict, total=False):
    """The inner graph's state (shares `trail` with the parents)."""

    trail: list[str]


def inner_a(state: InnerState) -> dict[str, Any]:
    """The inner graph's first node."""
    return {"trail": [*state.get("trail", []), "inner_a"]}


def inner_b(state: InnerState) -> dict[str, Any]:
    """The inner graph's second node."""
    return {"trail": [*state.get("trail", []), "inner_b"]}


_inner = StateGraph(InnerState)
_inner.add_node("inner_a", inner_a)
_inner.add_node("inner_b", inner_b)
_inner.add_edge(START, "inner_a")
_inner.add_edge("inner_a", "inner_b")
_inner.add_edge("inner_b", END)
inner = _inner.compile(name="inner")


class OuterState(TypedDict, total=False):
    """The parent's state."""

    trail: list[str]


def before(state: OuterState) -> dict[str, Any]:
    """Runs before the subgraph."""
    return {"trail": [*state.get("trail", []), "before"]}


def after(state: OuterState) -> dict[str, Any]:
    """Runs after the subgraph."""
    return {"trail": [*state.get("trail", []), "after"]}


def call_inner(state: OuterState) -> dict[str, Any]:
    """Invokes the inner graph inside a node."""
    result = inner.invoke({"trail": state.get("trail", [])})
    return {"trail": result["trail"]}


def _outer(sub: Any, name: str) -> Any:
    builder = StateGraph(OuterState)
    builder.add_node("before", before)
    builder.add_node("sub", sub)
    builder.add_node("after", after)
    builder.add_edge(START, "before")
    builder.add_edge("before", "sub")
    builder.add_edge("sub", "after")
    builder.add_edge("after", END)
    return builder.compile(name=name)


subgraph_node = _outer(inner, "subgraph_node")
subgraph_call = _outer(call_inner, "subgraph_call")


class BranchState(TypedDict, total=False):
    """Two branches write `seen` at once (a reducer joins them); `route` picks the end."""

    seen: Annotated[list[str], operator.add]
    verdict: str


def left(state: BranchState) -> dict[str, Any]:
    """One branch."""
    return {"seen": ["left"]}


def right(state: BranchState) -> dict[str, Any]:
    """The other branch."""
    return {"seen": ["right"]}


def route(state: BranchState) -> Command[Literal["accept", "reject"]]:
    """Goes on with a `Command`: both branches seen means accept."""
    both = sorted(state.get("seen", [])) == ["left", "right"]
    return Command(goto="accept" if both else "reject", update={"verdict": "routed"})


def accept(state: BranchState) -> dict[str, Any]:
    """The good end."""
    return {"seen": ["accept"]}


def reject(state: BranchState) -> dict[str, Any]:
    """The bad end."""
    return {"seen": ["reject"]}


_branches = StateGraph(BranchState)
for _name, _action in (("left", left), ("right", right), ("accept", accept), ("reject", reject)):
    _branches.add_node(_name, _action)
_branches.add_node("route", route)
_branches.add_edge(START, "left")
_branches.add_edge(START, "right")
_branches.add_edge(["left", "right"], "route")
_branches.add_edge("accept", END)
_branches.add_edge("reject", END)
branches = _branches.compile(name="branches")

"""Kit test graph: plain LangGraph, no Waypoint import; a TypedDict state; one node can fail.

`steps` say what each node does: `ok`, `fail` (raises a transient error, every time), `nul`
(raises an error whose message holds a NUL character, which Postgres text cannot), `keep` (puts
a value holding a NUL character into the Store, whose Postgres values are JSONB, and reads it
back), or `ask` (asks a human with a plain `interrupt`, not an HITL request). `second` declares
a side effect in its node metadata, so time travel that may reach it asks for `--allow-effects`.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langgraph.config import get_store
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt


class PlainState(TypedDict, total=False):
    """The run's plan and what happened."""

    steps: list[str]
    log: Annotated[list[str], operator.add]


def first(state: PlainState) -> dict[str, Any]:
    """Does what the first step says."""
    return _act("first", state.get("steps", [])[:1])


def second(state: PlainState) -> dict[str, Any]:
    """Does what the second step says."""
    return _act("second", state.get("steps", [])[1:2])


def _act(name: str, step: list[str]) -> dict[str, Any]:
    kind = step[0] if step else "ok"
    if kind == "fail":
        raise ConnectionError(f"{name} was told to fail")  # transient: retried, then halted
    if kind == "nul":
        raise ValueError(f"{name} read a NUL character: \x00")
    if kind == "keep":
        store = get_store()
        store.put(("kit", "plain"), name, {"text": "read \x00 from a file"})
        item = store.get(("kit", "plain"), name)
        return {"log": [f"{name}:kept:{item.value['text'] if item else None}"]}
    if kind == "ask":
        answer = interrupt(f"may {name} go on?")
        return {"log": [f"{name}:{answer}"]}
    return {"log": [f"{name}:ok"]}


builder = StateGraph(PlainState)
builder.add_node("first", first)
# the metadata key Waypoint reads for a node's side effects (`waypoint.effect_plan`), by value
builder.add_node("second", second, metadata={"waypoint_effects": ["plain.notice"]})
builder.add_edge(START, "first")
builder.add_edge("first", "second")
builder.add_edge("second", END)
graph = builder.compile(name="plain")

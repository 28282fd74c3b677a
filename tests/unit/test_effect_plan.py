"""The effect plan: declared effects on every path from where a replay or fork would start."""

from __future__ import annotations

from typing import TypedDict

import pytest
from langgraph.graph import END, START, StateGraph

from waypoint import BadInput, add_node, effects_metadata
from waypoint.effect_plan import (
    check_effects_allowed,
    declared_effects,
    plan_effects,
    reachable,
    successors,
)


class Shop(TypedDict, total=False):
    amount: int
    approved: bool


def _step(state: Shop) -> Shop:
    return {}


def _route(state: Shop) -> str:
    return "pay" if state.get("approved") else "notify"


def _shop() -> object:
    builder: StateGraph[Shop, None, Shop, Shop] = StateGraph(Shop)
    builder.add_node("quote", _step)
    builder.add_node("approve", _step)
    add_node(builder, "pay", _step, effects=("shop.payment",))
    builder.add_node("notify", _step, metadata=effects_metadata("shop.email"))
    builder.add_edge(START, "quote")
    builder.add_edge("quote", "approve")
    builder.add_conditional_edges("approve", _route, ["pay", "notify"])
    builder.add_edge("pay", "notify")
    builder.add_edge("notify", END)
    return builder.compile()


def test_declarations_come_from_node_metadata() -> None:
    graph = _shop()
    assert declared_effects(graph) == {"pay": ("shop.payment",), "notify": ("shop.email",)}


def test_a_walk_follows_every_target_of_a_conditional_edge() -> None:
    graph = _shop()
    assert reachable(graph, ["quote"]) == ["quote", "approve", "notify", "pay"]
    assert successors(graph, "approve") == ["notify", "pay"]
    assert successors(graph, "notify") == []  # the end is not a node


def test_the_plan_marks_kinds_the_thread_already_performed() -> None:
    plan = plan_effects(_shop(), ["approve"], performed={"shop.payment"})
    assert [(e.node, e.kind, e.performed_before) for e in plan] == [
        ("notify", "shop.email", False),
        ("pay", "shop.payment", True),
    ]
    assert plan_effects(_shop(), ["notify"], performed=()) == plan[:1]


def test_nothing_to_plan_after_the_last_effect() -> None:
    assert plan_effects(_shop(), []) == []


def test_a_plan_with_effects_needs_the_callers_permission() -> None:
    plan = plan_effects(_shop(), ["pay"])
    with pytest.raises(BadInput) as refused:
        check_effects_allowed(plan, allowed=False, action="fork", thread_id="t-1")
    assert refused.value.field == "allow-effects"
    assert "shop.payment at pay; shop.email at notify" in str(refused.value)
    check_effects_allowed(plan, allowed=True, action="fork", thread_id="t-1")
    check_effects_allowed([], allowed=False, action="fork", thread_id="t-1")

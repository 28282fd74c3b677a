"""Wiring of the `research` workflow (questions about Python's standard library).

plan → `Send` fan-out of research tasks → synthesise → quality gate → rewrite loop → human
review. Each research task is a subgraph with its own state (`TaskState`): recall from the
Store, then an agent loop (`agent` ⇄ LangGraph's `ToolNode`, routed by `tools_condition` and
a tool-call budget in state), then its finding. `graph` is compiled WITHOUT a checkpointer
(the server brings its own); `langgraph.json` serves it through `./waypoint/serving.py:research`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import RetryPolicy, TimeoutPolicy

from nodes.research.gate import quality_gate, route_after_gate
from nodes.research.plan import plan, research_tasks
from nodes.research.review import review, route_after_review
from nodes.research.synthesise import synthesise
from nodes.research.task import (
    agent,
    recall,
    remember,
    route_after_agent,
    route_after_recall,
    unanswered,
    write_findings,
)
from nodes.research.tools import TOOLS
from state.research import (
    ResearchContext,
    ResearchInput,
    ResearchOutput,
    ResearchState,
    TaskInput,
    TaskOutput,
    TaskState,
)
from waypoint import Ladder, add_node, retry_on, set_default_ladder

RECURSION_LIMIT = 120
"""Explicit bound on super-steps (LangGraph's default is 10007); every loop has its own bound."""

MODEL_RETRY = RetryPolicy(max_attempts=3, initial_interval=0.2, max_interval=5.0, retry_on=retry_on)
"""Model and provider calls: three attempts, 429-aware."""

TOOL_RETRY = RetryPolicy(max_attempts=2, initial_interval=0.1, retry_on=retry_on)
"""The tools: a second attempt (each already falls back across `search_docs` providers)."""

NO_RETRY = RetryPolicy(max_attempts=1)
"""Plain code and human steps: a retry would fail the same way."""

MODEL_TIMEOUT = TimeoutPolicy(run_timeout=60.0)
"""Timeouts fire in async nodes only; every node here is async."""


def _nothing(state: Any, failure: dict[str, str]) -> dict[str, Any]:
    """Memory is an optimisation: when the Store fails, the task goes on without it."""
    del state, failure
    return {}


TASK_LADDERS: dict[str, Ladder] = {
    "recall": Ladder(retry=MODEL_RETRY, last="degrade", degrade=_nothing, degrade_to="agent"),
    "agent": Ladder(retry=MODEL_RETRY, timeout=MODEL_TIMEOUT, last="degrade", degrade=unanswered),
    "tools": Ladder(
        retry=TOOL_RETRY,
        timeout=MODEL_TIMEOUT,
        fallback="search_docs",
        last="degrade",
        degrade=unanswered,
    ),
    "write_findings": Ladder(retry=NO_RETRY, last="degrade", degrade=unanswered),
    "remember": Ladder(retry=MODEL_RETRY, last="degrade", degrade=_nothing),
}
"""A research task's failure path: retry, fall back, then its sub-question is marked unanswered
(the other tasks' findings are untouched)."""

LADDERS: dict[str, Ladder] = {
    "plan": Ladder(retry=MODEL_RETRY, timeout=MODEL_TIMEOUT, fallback="plan_research", last="halt"),
    "research": Ladder(retry=NO_RETRY, last="degrade", degrade=unanswered, degrade_to="synthesise"),
    "synthesise": Ladder(retry=MODEL_RETRY, timeout=MODEL_TIMEOUT, last="halt"),
    "quality_gate": Ladder(retry=NO_RETRY, last="halt"),
    "review": Ladder(retry=NO_RETRY, last="fail"),
}
"""Every node's failure path; `waypoint graph research --policies` prints this table."""

TASK_NODES: dict[str, Callable[..., Any] | ToolNode] = {
    "recall": recall,
    "agent": agent,
    "tools": ToolNode(TOOLS, handle_tool_errors=False),
    "write_findings": write_findings,
    "remember": remember,
}


def build_task() -> StateGraph[TaskState, ResearchContext, TaskInput, TaskOutput]:
    """One research task: recall, the agent loop, its finding."""
    builder = StateGraph(
        TaskState,
        context_schema=ResearchContext,
        input_schema=TaskInput,
        output_schema=TaskOutput,
    )
    set_default_ladder(builder)
    for name, action in TASK_NODES.items():
        add_node(builder, name, action, TASK_LADDERS.get(name))
    add_task_edges(builder)
    return builder


def add_task_edges(
    builder: StateGraph[TaskState, ResearchContext, TaskInput, TaskOutput],
) -> None:
    """The edges and routers of a research task (the benchmark's bare wiring uses them too)."""
    builder.add_edge(START, "recall")
    builder.add_conditional_edges("recall", route_after_recall)
    builder.add_conditional_edges("agent", route_after_agent)
    builder.add_edge("tools", "agent")
    builder.add_edge("write_findings", "remember")


def research_task() -> CompiledStateGraph[TaskState, ResearchContext, TaskInput, TaskOutput]:
    """The compiled task subgraph (it shares the parent's checkpointer and Store)."""
    return build_task().compile(name="research_task")


def build() -> StateGraph[ResearchState, ResearchContext, ResearchInput, ResearchOutput]:
    """The `research` graph builder: nodes with their failure ladders, edges, gate, human."""
    builder = StateGraph(
        ResearchState,
        context_schema=ResearchContext,
        input_schema=ResearchInput,
        output_schema=ResearchOutput,
    )
    set_default_ladder(builder)
    nodes: dict[str, Any] = {
        "plan": plan,
        "research": research_task(),
        "synthesise": synthesise,
        "quality_gate": quality_gate,
        "review": review,
    }
    for name, action in nodes.items():
        add_node(builder, name, action, LADDERS.get(name))
    add_edges(builder)
    return builder


def add_edges(
    builder: StateGraph[ResearchState, ResearchContext, ResearchInput, ResearchOutput],
) -> None:
    """The edges and routers between the nodes (the benchmark's bare wiring uses them too)."""
    builder.add_edge(START, "plan")
    builder.add_conditional_edges("plan", research_tasks, ["research"])
    builder.add_edge("research", "synthesise")
    builder.add_edge("synthesise", "quality_gate")
    builder.add_conditional_edges("quality_gate", route_after_gate)
    builder.add_conditional_edges("review", route_after_review)


graph = build().compile(name="research").with_config(recursion_limit=RECURSION_LIMIT)

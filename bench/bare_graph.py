"""The `support` workflow wired with bare LangGraph: the baseline Waypoint is compared against.

Same state, context, input and output schemas, same node functions from `nodes/support/`, same
edges and routers as `graphs/support.py`; but no error handler, no retry or timeout policies,
and (in the callers) no Waypoint runner, thread lock or thread index.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from nodes.support.classify import classify
from nodes.support.decide import decide
from nodes.support.draft import draft
from nodes.support.execute import execute
from nodes.support.gates import (
    classification_gate,
    review_gate,
    route_after_classification,
    route_after_review,
)
from nodes.support.humans import (
    approval,
    escalate,
    human_triage,
    route_after_approval,
    route_after_escalation,
    route_after_triage,
)
from nodes.support.intake import intake
from nodes.support.lookup import lookup, route_after_lookup
from state.support import SupportContext, SupportOutput, SupportState, TicketInput


def build_bare() -> StateGraph[SupportState, SupportContext, TicketInput, SupportOutput]:
    """Nodes and edges of `support`, nothing else."""
    builder = StateGraph(
        SupportState,
        context_schema=SupportContext,
        input_schema=TicketInput,
        output_schema=SupportOutput,
    )
    builder.add_node("intake", intake)
    builder.add_node("classify", classify)
    builder.add_node("classification_gate", classification_gate)
    builder.add_node("human_triage", human_triage)
    builder.add_node("lookup", lookup)
    builder.add_node("escalate", escalate)
    builder.add_node("decide", decide)
    builder.add_node("draft", draft)
    builder.add_node("review_gate", review_gate)
    builder.add_node("approval", approval)
    builder.add_node("execute", execute)

    builder.add_edge(START, "intake")
    builder.add_edge("intake", "classify")
    builder.add_edge("classify", "classification_gate")
    builder.add_conditional_edges("classification_gate", route_after_classification)
    builder.add_conditional_edges("human_triage", route_after_triage)
    builder.add_conditional_edges("lookup", route_after_lookup)
    builder.add_conditional_edges("escalate", route_after_escalation)
    builder.add_edge("decide", "draft")
    builder.add_edge("draft", "review_gate")
    builder.add_conditional_edges("review_gate", route_after_review)
    builder.add_conditional_edges("approval", route_after_approval)
    builder.add_edge("execute", END)
    return builder


def compile_bare(
    checkpointer: BaseCheckpointSaver[Any] | None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The bare graph compiled with `checkpointer`."""
    return build_bare().compile(checkpointer=checkpointer, name="support-bare")

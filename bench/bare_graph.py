"""The `support` workflow wired with bare LangGraph: the baseline Waypoint is compared against.

Same state, context, input and output schemas, same node functions (`NODES`) and the same
edges and routers (`add_edges`) as `graphs/support.py`; but no error handler, no retry or
timeout policies, and (in the callers) no Waypoint runner, thread lock or thread index.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph

from graphs.support import NODES, add_edges
from state.support import SupportContext, SupportOutput, SupportState, TicketInput


def build_bare() -> StateGraph[SupportState, SupportContext, TicketInput, SupportOutput]:
    """Nodes and edges of `support`, nothing else."""
    builder = StateGraph(
        SupportState,
        context_schema=SupportContext,
        input_schema=TicketInput,
        output_schema=SupportOutput,
    )
    for name, action in NODES.items():
        builder.add_node(name, action)
    add_edges(builder)
    return builder


def compile_bare(
    checkpointer: BaseCheckpointSaver[Any] | None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The bare graph compiled with `checkpointer`."""
    return build_bare().compile(checkpointer=checkpointer, name="support-bare")

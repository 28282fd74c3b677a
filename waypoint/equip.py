"""Fit any compiled LangGraph graph with what the kit needs, without changing the original.

A graph built on the kit (its state extends `WorkflowState`, its builder has a default ladder)
is only made a `GuardedGraph`. A plain `StateGraph` written with no Waypoint import is rebuilt
from a copy of its builder:

- the kit's `halt` and `failure` channels are added to its state (a failure ladder writes them;
  the graph's own input and output schemas are unchanged, so callers see no difference);
- nodes without an error handler of their own get the default ladder (`DEFAULT_LADDER`:
  429-aware retries, then a halt with the reason), through LangGraph's `set_node_defaults`;
- it is compiled again with the original's name, interrupts and config.

A graph without a builder (the functional API's `@entrypoint`) is only made a `GuardedGraph`.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Annotated, Any, TypedDict

from langgraph.graph.state import CompiledStateGraph, StateGraph
from langgraph.pregel import Pregel

from waypoint.contract import WorkflowState
from waypoint.guarded_graph import GuardedGraph, guarded
from waypoint.guards import first_stop
from waypoint.ladder import set_default_ladder


class KitFields(TypedDict, total=False):
    """The state channels a failure ladder writes (`WorkflowState` has them already)."""

    halt: Annotated[dict[str, Any] | None, first_stop]
    failure: Annotated[dict[str, Any] | None, first_stop]


def built_on_the_kit(graph: CompiledStateGraph[Any, Any, Any, Any]) -> bool:
    """Whether the graph's state extends `WorkflowState` (then it is taken as it is)."""
    schema = graph.builder.state_schema
    return isinstance(schema, type) and issubclass(schema, WorkflowState)


def _copy_builder(builder: StateGraph[Any, Any, Any, Any]) -> StateGraph[Any, Any, Any, Any]:
    """A builder that compiles to the same graph, sharing no mutable part with `builder`.

    `compile()` adds error-handler nodes to the builder it compiles (pitfall 1), so the kit
    never compiles the original's.
    """
    fresh = copy.copy(builder)
    fresh.nodes = dict(builder.nodes)
    fresh.edges = set(builder.edges)
    fresh.waiting_edges = set(builder.waiting_edges)
    fresh.branches = defaultdict(dict, {k: dict(v) for k, v in builder.branches.items()})
    fresh.schemas = dict(builder.schemas)
    fresh.channels = dict(builder.channels)
    fresh.managed = dict(builder.managed)
    fresh._node_defaults = copy.copy(builder._node_defaults)
    fresh.compiled = False
    return fresh


def equip(graph: Pregel[Any, Any, Any, Any]) -> GuardedGraph:
    """`graph` as the kit runs and serves it (see the module); the original is untouched."""
    if isinstance(graph, GuardedGraph) or not isinstance(graph, CompiledStateGraph):
        return guarded(graph)  # type: ignore[arg-type]
    if built_on_the_kit(graph):
        return guarded(graph)
    builder = _copy_builder(graph.builder)
    if not {"halt", "failure"} <= set(builder.channels):
        builder._add_schema(KitFields)
    if builder._node_defaults.error_handler is None:
        set_default_ladder(builder)
    rebuilt = builder.compile(
        checkpointer=graph.checkpointer,
        store=graph.store,
        cache=graph.cache,
        interrupt_before=_interrupts(graph.interrupt_before_nodes),
        interrupt_after=_interrupts(graph.interrupt_after_nodes),
        name=graph.name,
    )
    if graph.config:
        rebuilt = rebuilt.with_config(graph.config)
    return guarded(rebuilt)


def _interrupts(nodes: Any) -> Any:
    """A compiled graph's static interrupts as `compile()` takes them."""
    if nodes == "*":
        return "*"
    return list(nodes) or None

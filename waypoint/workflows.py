"""Find the workflows: every graph listed in `langgraph.json` is one.

The served graph is compiled without a checkpointer; `Workflow.compile` recompiles its builder
with the saver the command line or a test opened.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph, StateGraph
from langgraph.pregel import Pregel
from langgraph.store.base import BaseStore
from pydantic import BaseModel, ConfigDict, Field

from waypoint.contract import WorkflowContext
from waypoint.equip import equip
from waypoint.errors import BadInput
from waypoint.guards import Budgets
from waypoint.served_runs import serve, without_served_runs

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class NoContext(BaseModel):
    """The run context of a graph that declares no context schema: only the kit's budgets.

    Budgets are policy as for any workflow (`[policy.<graph>.budgets]` in waypoint.toml); a
    run's context may only tighten them. The graph's nodes never see them.
    """

    model_config = ConfigDict(extra="forbid")

    budgets: Budgets = Field(
        default_factory=lambda: Budgets(steps=100, wall_seconds=600),
        description=WorkflowContext.model_fields["budgets"].description,
    )


@dataclass(frozen=True)
class Workflow:
    """A graph from `langgraph.json` with what the command line needs to drive it."""

    name: str
    description: str
    served: CompiledStateGraph[Any, Any, Any, Any]
    build: Callable[[], StateGraph[Any, Any, Any, Any]] | None
    """The module's `build()`, if it has one (the benchmark's bare wiring uses it)."""
    ladders: dict[str, Any] = field(default_factory=dict)
    """The module's `LADDERS`: each node's failure ladder (`waypoint.ladder.Ladder`)."""

    @property
    def input_schema(self) -> Any:
        """What a run's input must satisfy: a pydantic model, or a plain graph's `TypedDict`."""
        builder = getattr(self.served, "builder", None)
        return getattr(builder, "input_schema", None) or dict[str, Any]

    @property
    def state_schema(self) -> Any:
        """The shared state's schema (a `WorkflowState` for graphs built on the kit)."""
        builder = getattr(self.served, "builder", None)
        return getattr(builder, "state_schema", None) or dict[str, Any]

    @property
    def context_schema(self) -> type[BaseModel]:
        """The pydantic model of the run context (`NoContext` for a graph that declares none).

        Raises:
            BadInput: the context schema is not a pydantic model (the kit checks policy on it).
        """
        builder = getattr(self.served, "builder", None)
        schema = getattr(builder, "context_schema", None)
        if schema is None:
            return NoContext
        if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
            raise BadInput(
                f"graph: {self.name}'s context schema must be a pydantic model", field="graph"
            )
        return schema

    def compile(
        self, checkpointer: BaseCheckpointSaver[Any] | None, store: BaseStore | None = None
    ) -> CompiledStateGraph[Any, Any, Any, Any]:
        """The served graph with `checkpointer` and `store` swapped in: a copy.

        The served one is untouched; `store` is the LangGraph Store of the same database.

        `Pregel.copy` is what LangGraph's own `with_config` does; it costs ~0.1 ms where compiling
        the builder again costs ~17 ms per command (docs/benchmarks.md). Compiling again would
        also need a fresh builder: LangGraph 1.2 adds the error-handler nodes to a builder during
        `compile()`, so a builder cannot be compiled twice (`build()` makes a new one). The copy
        drops the server's ledger callback (`waypoint.served_runs`): the runner records its runs.
        """
        config = without_served_runs(self.served)
        update: dict[str, Any] = {"checkpointer": checkpointer, "config": config}
        if store is not None:
            update["store"] = store
        return self.served.copy(update=update)


def _ladders(graph: CompiledStateGraph[Any, Any, Any, Any], own: dict[str, Any]) -> dict[str, Any]:
    """Each node's failure ladder: its own, else the kit's default (`set_default_ladder`)."""
    from waypoint.ladder import DEFAULT_LADDER

    nodes = [name for name in graph.nodes if not name.startswith("__")]
    return {name: own.get(name, DEFAULT_LADDER) for name in nodes}


def langgraph_json() -> Path:
    """`WAYPOINT_LANGGRAPH_JSON`, else the project's own `langgraph.json`."""
    return Path(os.environ.get("WAYPOINT_LANGGRAPH_JSON", PROJECT_ROOT / "langgraph.json"))


def _specs() -> dict[str, dict[str, str]]:
    return _specs_in(langgraph_json())


@cache
def _specs_in(path: Path) -> dict[str, dict[str, str]]:
    raw = json.loads(path.read_text())
    specs: dict[str, dict[str, str]] = {}
    for name, entry in raw.get("graphs", {}).items():
        spec = {"path": entry} if isinstance(entry, str) else dict(entry)
        specs[name] = spec
    return specs


def forget_workflows() -> None:
    """Read `langgraph.json` and the graph modules again on next use (after `waypoint new`)."""
    _specs_in.cache_clear()
    _load_from.cache_clear()


def served_here() -> list[str]:
    """The graphs `langgraph.json` serves through the kit's serving module."""
    config = langgraph_json()
    return [
        name
        for name, spec in _specs_in(config).items()
        if (config.parent / spec["path"].partition(":")[0]).resolve() == SERVING_MODULE
    ]


def workflow_names() -> list[str]:
    """Names of the graphs in `langgraph.json`."""
    return sorted(_specs())


def load_workflow(name: str) -> Workflow:
    """Import the graph `name` from `langgraph.json` (`WAYPOINT_LANGGRAPH_JSON` names another).

    Raises:
        BadInput: no graph of that name.
    """
    return _load_from(langgraph_json(), name)


SERVING_MODULE = Path(__file__).resolve().with_name("serving.py")
"""The kit's module `langgraph.json` points each graph at (`./waypoint/serving.py:NAME`)."""


def graph_source(config: Path, name: str, path: str) -> tuple[Path, str]:
    """The file and attribute holding workflow `name`'s own graph.

    When `langgraph.json` points the graph at the kit's serving module, the workflow's graph is
    `[workflows.NAME] graph = "PATH:ATTRIBUTE"` in waypoint.toml (relative to the project), else
    `graphs/NAME.py:graph` beside `langgraph.json`.
    """
    file_part, _, attribute = path.partition(":")
    file = (config.parent / file_part).resolve()
    if file != SERVING_MODULE:
        return file, attribute or "graph"
    from waypoint.config import load_config

    source = load_config().workflows.get(name)
    if source is not None:
        file_part, _, attribute = source.graph.partition(":")
        return (PROJECT_ROOT / file_part).resolve(), attribute or "graph"
    return (config.parent / "graphs" / f"{name}.py").resolve(), "graph"


@cache
def _load_from(config: Path, name: str) -> Workflow:
    specs = _specs_in(config)
    if name not in specs:
        raise BadInput(
            f"graph: unknown graph {name!r}; expected one of {', '.join(sorted(specs))}",
            field="graph",
        )
    file, attribute = graph_source(config, name, specs[name]["path"])
    try:
        module_name = ".".join(file.relative_to(PROJECT_ROOT).with_suffix("").parts)
    except ValueError:
        raise BadInput(
            f"graph: {name}'s graph {file} is outside the project {PROJECT_ROOT}", field="graph"
        ) from None
    module = importlib.import_module(module_name)
    original = getattr(module, attribute, None)
    if not isinstance(original, Pregel):
        raise BadInput(
            f"graph: {module_name}.{attribute} is not a compiled LangGraph graph", field="graph"
        )
    served = serve(equip(original))  # the kit's ledger, guards, kill switch and admission
    build = getattr(module, "build", None)
    return Workflow(
        name=name,
        description=specs[name].get("description", ""),
        served=served,
        build=build if callable(build) else None,
        ladders=_ladders(served, dict(getattr(module, "LADDERS", {}))),
    )

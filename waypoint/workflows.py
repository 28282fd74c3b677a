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
from pydantic import BaseModel, ConfigDict

from waypoint.errors import BadInput
from waypoint.guarded_graph import guarded
from waypoint.served_runs import without_served_runs

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class NoContext(BaseModel):
    """The run context of a graph that declares no context schema: nothing may be set."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Workflow:
    """A graph from `langgraph.json` with what the command line needs to drive it."""

    name: str
    description: str
    served: CompiledStateGraph[Any, Any, Any, Any]
    build: Callable[[], StateGraph[Any, Any, Any, Any]]
    ladders: dict[str, Any] = field(default_factory=dict)
    """The module's `LADDERS`: each node's failure ladder (`waypoint.ladder.Ladder`)."""

    @property
    def input_schema(self) -> type[BaseModel]:
        """The pydantic model a run's input must satisfy."""
        schema = self.served.builder.input_schema
        assert isinstance(schema, type) and issubclass(schema, BaseModel)
        return schema

    @property
    def state_schema(self) -> type[BaseModel]:
        """The pydantic model of the shared state."""
        schema = self.served.builder.state_schema
        assert isinstance(schema, type) and issubclass(schema, BaseModel)
        return schema

    @property
    def context_schema(self) -> type[BaseModel]:
        """The pydantic model of the run context (`NoContext` for a graph that declares none)."""
        schema = self.served.builder.context_schema
        if schema is None:
            return NoContext
        assert isinstance(schema, type) and issubclass(schema, BaseModel)
        return schema

    def compile(
        self, checkpointer: BaseCheckpointSaver[Any] | None
    ) -> CompiledStateGraph[Any, Any, Any, Any]:
        """The served graph with `checkpointer` swapped in: a copy, the served one is untouched.

        `Pregel.copy` is what LangGraph's own `with_config` does; it costs ~0.1 ms where compiling
        the builder again costs ~17 ms per command (docs/benchmarks.md). Compiling again would
        also need a fresh builder: LangGraph 1.2 adds the error-handler nodes to a builder during
        `compile()`, so a builder cannot be compiled twice (`build()` makes a new one). The copy
        drops the server's ledger callback (`waypoint.served_runs`): the runner records its runs.
        """
        config = without_served_runs(self.served)
        return self.served.copy(update={"checkpointer": checkpointer, "config": config})


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


def workflow_names() -> list[str]:
    """Names of the graphs in `langgraph.json`."""
    return sorted(_specs())


def load_workflow(name: str) -> Workflow:
    """Import the graph `name` from `langgraph.json` (`WAYPOINT_LANGGRAPH_JSON` names another).

    Raises:
        BadInput: no graph of that name.
    """
    return _load_from(langgraph_json(), name)


@cache
def _load_from(config: Path, name: str) -> Workflow:
    specs = _specs_in(config)
    if name not in specs:
        raise BadInput(
            f"graph: unknown graph {name!r}; expected one of {', '.join(sorted(specs))}",
            field="graph",
        )
    path, _, attribute = specs[name]["path"].partition(":")
    file = (config.parent / path).resolve()
    module_name = ".".join(file.relative_to(PROJECT_ROOT).with_suffix("").parts)
    module = importlib.import_module(module_name)
    served = guarded(getattr(module, attribute))  # the CLI admits commands like a server
    build = getattr(module, "build", None)
    if not callable(build):
        raise BadInput(f"graph: {module_name} must define build() returning its StateGraph")
    return Workflow(
        name=name,
        description=specs[name].get("description", ""),
        served=served,
        build=build,
        ladders=_ladders(served, dict(getattr(module, "LADDERS", {}))),
    )

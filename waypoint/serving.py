"""What `langgraph.json` serves: each workflow's graph, fitted with the kit.

Every entry of `langgraph.json` points here (`"path": "./waypoint/serving.py:NAME"`), so no
graph can be served without the ledger, guards, kill switch and admission by forgetting a
call. `waypoint.serving.NAME` is workflow NAME's graph (`graphs/NAME.py:graph`, or
`[workflows.NAME] graph` in waypoint.toml) as `waypoint.workflows.load_workflow` fits it: a
`GuardedGraph` with the served-runs recorder, compiled without a checkpointer (the server
brings its own). A plain LangGraph graph with no Waypoint import is served the same way.
"""

from __future__ import annotations

from typing import Any

from waypoint.config import load_plugins
from waypoint.workflows import load_workflow, served_here, workflow_names


def __getattr__(name: str) -> Any:
    """Workflow `name`'s graph, as a LangGraph server serves it."""
    if name not in workflow_names():  # servers probe for optional names too
        raise AttributeError(f"module 'waypoint.serving' has no attribute {name!r}")
    return load_workflow(name).served


# `langgraph dev` looks for the graph among the module's own names (not through `__getattr__`):
# every workflow `langgraph.json` serves from here is one, loaded when a server imports this.
globals().update({name: load_workflow(name).served for name in served_here()})
# the providers plugins add (`[waypoint] plugins`, `WAYPOINT_PLUGINS`), as the command line has them
load_plugins()

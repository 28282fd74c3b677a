"""The last rung of every node's failure path: record why, and stop the run cleanly."""

from __future__ import annotations

from typing import Any

from langgraph.errors import NodeError
from langgraph.graph import END
from langgraph.types import Command

from waypoint.guards import GuardHalt


def record_failure(state: Any, error: NodeError) -> Command[Any]:
    """Error handler (LangGraph 1.2 `error_handler`): keep the failure in state and end the run.

    The final checkpoint then says which node failed and why; the command line exits 1 and the
    thread can be continued with `waypoint resume` once the cause is fixed. A `GuardHalt` (a
    budget, a loop, a kill) is recorded as `halt` instead: exit 4, and only
    `waypoint resume --override --reason` continues it.
    """
    del state
    if isinstance(error.error, GuardHalt):
        return Command(update={"halt": error.error.halt.model_dump(mode="json")}, goto=END)
    failure = {
        "node": error.node,
        "error_type": type(error.error).__name__,
        "message": str(error.error)[:1000],
    }
    return Command(update={"failure": failure}, goto=END)

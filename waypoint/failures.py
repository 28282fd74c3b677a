"""The last rung of every node's failure path: record why, and stop the run cleanly."""

from __future__ import annotations

from typing import Any

from langgraph.errors import NodeError
from langgraph.graph import END
from langgraph.types import Command


def record_failure(state: Any, error: NodeError) -> Command[Any]:
    """Error handler (LangGraph 1.2 `error_handler`): keep the failure in state and end the run.

    The final checkpoint then says which node failed and why; the command line exits 1 and the
    thread can be continued with `waypoint resume` once the cause is fixed.
    """
    del state
    failure = {
        "node": error.node,
        "error_type": type(error.error).__name__,
        "message": str(error.error)[:1000],
    }
    return Command(update={"failure": failure}, goto=END)

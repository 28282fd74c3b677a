"""Pause points for crash tests, off unless `WAYPOINT_PAUSE_AT` is set.

With `WAYPOINT_PAUSE_AT=<point>` the process writes `WAYPOINT_PAUSE_MARKER` (a file path) when it
reaches `<point>` and then freezes, so a test can SIGKILL it exactly there. Points:
`before:<node>` and `after:<node>` (node boundaries, from a callback), and named points inside
code such as `effect:<kind>:before_commit`, `sweep:claimed` (a sweeper holds a claim) and
`sweep:escalating` (an escalation written, not committed). With
`WAYPOINT_PAUSE_RELEASE=<file>` the process goes on once that file exists. Unset, each point
costs one environment lookup.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

PAUSE_ENV = "WAYPOINT_PAUSE_AT"
MARKER_ENV = "WAYPOINT_PAUSE_MARKER"
RELEASE_ENV = "WAYPOINT_PAUSE_RELEASE"


def pause_point(name: str) -> None:
    """Freeze here when the test asked for this point."""
    if os.environ.get(PAUSE_ENV) != name:
        return
    marker = os.environ.get(MARKER_ENV)
    if marker:
        Path(marker).write_text(f"{name}\n{os.getpid()}\n")
    release = os.environ.get(RELEASE_ENV)
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:  # frozen on purpose: the test kills or releases it
        if release and Path(release).exists():
            return
        time.sleep(0.05)


class NodeBoundaryPauses(BaseCallbackHandler):
    """Raise `before:<node>` / `after:<node>` pause points around each node."""

    run_inline = True

    def __init__(self) -> None:
        """Track which runs are nodes, to name their ends."""
        self._nodes: dict[UUID, str] = {}

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Before a node's body runs."""
        node = (kwargs.get("metadata") or {}).get("langgraph_node")
        if node and kwargs.get("name") == node:
            self._nodes[run_id] = node
            pause_point(f"before:{node}")

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """After a node returned, before its checkpoint is written."""
        node = self._nodes.pop(run_id, None)
        if node:
            pause_point(f"after:{node}")


def pause_callbacks() -> list[BaseCallbackHandler]:
    """Callbacks to attach to a run: none unless a pause point was asked for."""
    return [NodeBoundaryPauses()] if os.environ.get(PAUSE_ENV) else []

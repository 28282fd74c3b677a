"""What the checkpoints say about a recorded thread: checkpoint ids per step, thread trajectory.

Callbacks do not see checkpoint ids, so after a recording the node runs are annotated from the
thread's history: `checkpoint_id` is the checkpoint that holds the node's writes (none for a node
that paused) and `parent_checkpoint_id` the one its step started from. The thread trajectory is
agentevals' `extract_langgraph_trajectory_from_thread`, kept in the trace header.
"""

from __future__ import annotations

from typing import Any

from agentevals.graph_trajectory.utils import aextract_langgraph_trajectory_from_thread

from waypoint.persistence.stores import open_stores
from waypoint.timetravel import thread_history
from waypoint.workflows import load_workflow


async def annotate_checkpoints(
    runs: list[dict[str, Any]], thread_id: str, db_url: str | None
) -> None:
    """Add `checkpoint_id` / `parent_checkpoint_id` to the metadata of runs inside a step."""
    history = await thread_history(thread_id, db_url=db_url)
    by_step: dict[int, str] = {}
    for row in reversed(history.rows):  # oldest first; the head line wins on a repeated step
        if row.on_head_line or row.step not in by_step:
            by_step[row.step] = row.checkpoint_id
    for run in runs:
        metadata = run["extra"]["metadata"]
        step = metadata.get("langgraph_step")
        if not isinstance(step, int):
            continue
        parent = by_step.get(step - 1)
        if parent is not None:
            metadata["parent_checkpoint_id"] = parent
        if run.get("status") != "interrupted" and step in by_step:
            metadata["checkpoint_id"] = by_step[step]


async def thread_steps(graph: str, thread_id: str, db_url: str | None) -> list[list[str]]:
    """The LangGraph thread trajectory (agentevals): the nodes of each invocation, in order."""
    workflow = load_workflow(graph)
    async with open_stores(db_url) as stores:
        compiled = workflow.compile(stores.checkpointer)
        extracted = await aextract_langgraph_trajectory_from_thread(
            compiled, {"configurable": {"thread_id": thread_id}}
        )
    return [list(step) for step in extracted["outputs"]["steps"]]

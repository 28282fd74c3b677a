"""The thread index (`waypoint_threads`): each thread's graph, status and a short summary.

The runner keeps it for the runs it starts, the served graph's recorder for the runs a server
starts; `waypoint threads`, `kill` and `kpis` read it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from waypoint.contract import summarize
from waypoint.handoffs import Pending, handoff_kind, handoff_statements
from waypoint.notifications import event_statements
from waypoint.persistence.sql import Database, Statement


def summary_of(state_schema: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """The summary kept for a thread: the workflow's own, and why it stopped short if it did.

    The workflow's part is `WorkflowState.summary()` (subject, outcome); `failure` and `halt`
    are the kit's own fields.
    """
    summary = summarize(state_schema, values).model_dump(mode="json")
    for key in ("failure", "halt"):
        if values.get(key):
            summary[key] = values[key]
    return summary


def index_statement(
    *,
    thread_id: str,
    graph: str,
    status: str,
    summary: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
) -> Statement:
    """The write that records the thread's status (and summary, when given), creating its row."""
    now = datetime.now(UTC).isoformat()
    keep_summary = summary is None
    return (
        "INSERT INTO waypoint_threads (thread_id, graph, status, created_at, updated_at, "
        "summary, context) VALUES (:thread_id, :graph, :status, :now, :now, :summary, "
        ":context) ON CONFLICT (thread_id) DO UPDATE SET status = excluded.status, "
        "updated_at = excluded.updated_at"
        + ("" if keep_summary else ", summary = excluded.summary"),
        {
            "thread_id": thread_id,
            "graph": graph,
            "status": status,
            "now": now,
            "summary": json.dumps(dict(summary or {}), default=str),
            "context": json.dumps(dict(context or {}), default=str),
        },
    )


async def index_thread(
    db: Database,
    *,
    thread_id: str,
    graph: str,
    status: str,
    summary: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    pending: Sequence[Pending] | None = None,
    actor: str | None = None,
    served: bool = False,
) -> None:
    """Record the thread's status (and summary, when given); create its row if it has none.

    With `pending` (the interrupts pending at the end of a run), the thread's handoffs are
    brought up to date in the same round trip (`waypoint.handoffs`), and webhooks are queued for
    a new question or a halt (`waypoint.notifications`). `served`: a server started the run
    (its questions' deadlines are the server's to apply).
    """
    write = index_statement(
        thread_id=thread_id, graph=graph, status=status, summary=summary, context=context
    )
    if pending is None:
        await db.execute(*write)
        return
    events = [
        statement
        for item in pending
        for statement in event_statements(
            thread_id,
            graph,
            "waiting",
            item.interrupt_id,
            {"interrupt_id": item.interrupt_id, "kind": handoff_kind(item.value)},
        )
    ]
    if status == "halted":
        events += event_statements(thread_id, graph, "halted", datetime.now(UTC).isoformat())
    handoffs = handoff_statements(thread_id, graph, pending, actor, served=served)
    await db.batch([write, *handoffs, *events])

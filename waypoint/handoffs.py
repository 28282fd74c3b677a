"""Handoffs to a human: every question a thread asked, when, of what kind, and when it was answered.

Written where a run ends, by the command line's runner and by the served-runs recorder alike,
in the same round trip as the thread index: each interrupt pending at the end of a run is a
handoff (kept once, by its interrupt id); a handoff of the thread that is no longer pending was
answered, by the run's actor, now. `kpis` reads the table for escalation by kind, intervention
and human wait time. The kind comes from the question itself, so it works for any workflow: a
failure ladder's `recover_node` request is `failure_ladder`, an HITL request is its action's
name (`issue_refund`, `triage`), anything else (a plain `interrupt("...")`) is `question`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from waypoint.persistence.sql import Executor, Statement

FAILURE_LADDER = "failure_ladder"
"""The kind of a handoff a failure ladder made (the node failed past its retries)."""

PLAIN_QUESTION = "question"
"""The kind of a plain `interrupt(value)` that is not an HITL request."""

_LADDER_ACTION = "recover_node"


@dataclass(frozen=True)
class Pending:
    """An interrupt pending at the end of a run."""

    interrupt_id: str
    node: str | None
    value: Any


def handoff_kind(value: Any) -> str:
    """The kind of a question, from the question: ladder, HITL action name, or plain."""
    if isinstance(value, Mapping):
        requests = value.get("action_requests")
        if isinstance(requests, list) and requests and isinstance(requests[0], Mapping):
            name = str(requests[0].get("name") or PLAIN_QUESTION)
            return FAILURE_LADDER if name == _LADDER_ACTION else name[:80]
    return PLAIN_QUESTION


ESCALATE = "escalate:"
"""`on_timeout` of a question that goes to another user at its deadline (`escalate:USER`)."""

ESCALATED = "escalated:"
"""`on_timeout` once the sweeper escalated it (`escalated:USER`): it has no deadline left."""


async def escalated_questions(db: Executor, thread_id: str, user: str) -> list[str]:
    """The questions of a thread waiting for `user` because the sweeper escalated them to them."""
    rows = await db.fetchall(
        "SELECT handoff_id FROM waypoint_handoffs WHERE thread_id = :t AND answered_at IS NULL "
        "AND on_timeout = :to ORDER BY asked_at",
        {"t": thread_id, "to": f"{ESCALATED}{user}"},
    )
    return [str(row["handoff_id"]) for row in rows]


def escalated_choice(handed: list[str], interrupt_id: str | None) -> str | None:
    """The question an escalated user answers, None when they may answer none of these.

    The one named, if it was handed to them; else the only one handed to them.
    """
    if interrupt_id in handed or (interrupt_id is None and len(handed) == 1):
        return interrupt_id or handed[0]
    return None


def deadline_of(value: Any) -> tuple[float, str] | None:
    """A question's deadline (seconds after it was asked) and default outcome, if it has one.

    The outcome is `reject`, `approve`, or `escalate:USER`.
    """
    if isinstance(value, Mapping) and isinstance(value.get("deadline"), Mapping):
        deadline = value["deadline"]
        seconds, outcome = deadline.get("seconds"), deadline.get("on_timeout")
        if not (isinstance(seconds, int | float) and seconds > 0):
            return None
        if outcome in ("reject", "approve"):
            return float(seconds), str(outcome)
        target = deadline.get("escalate_to")
        if outcome == "escalate" and isinstance(target, str) and target:
            return float(seconds), f"{ESCALATE}{target[:128]}"
    return None


def handoff_statements(
    thread_id: str,
    graph: str,
    pending: Sequence[Pending],
    actor: str | None,
    *,
    served: bool = False,
) -> list[Statement]:
    """The writes that bring the thread's handoffs up to date (for `Database.batch`).

    They touch different rows (answered ones are not pending; pending ones are inserted once),
    so they may run as one statement. `served`: the question was asked in a run a server
    started, so its default answer is the server's to apply (`waypoint.sweeper`).
    """
    moment = datetime.now(UTC)
    now = moment.isoformat()
    params: dict[str, Any] = {"thread_id": thread_id, "now": now, "by": actor or "unknown"}
    names = []
    for index, item in enumerate(pending):
        params[f"id{index}"] = item.interrupt_id
        names.append(f":id{index}")
    still = f" AND handoff_id NOT IN ({', '.join(names)})" if names else ""
    statements: list[Statement] = [
        (
            "UPDATE waypoint_handoffs SET answered_at = :now, answered_by = :by "
            f"WHERE thread_id = :thread_id AND answered_at IS NULL{still}",
            params,
        )
    ]
    for item in pending:
        deadline = deadline_of(item.value)
        due = None if deadline is None else (moment + timedelta(seconds=deadline[0])).isoformat()
        statements.append(
            (
                "INSERT INTO waypoint_handoffs (handoff_id, thread_id, graph, node, kind, "
                "asked_at, deadline_at, on_timeout, served) VALUES (:id, :thread_id, :graph, "
                ":node, :kind, :now, :due, :on_timeout, :served) "
                "ON CONFLICT (thread_id, handoff_id) DO NOTHING",
                {
                    "id": item.interrupt_id,
                    "thread_id": thread_id,
                    "graph": graph,
                    "node": item.node,
                    "kind": handoff_kind(item.value),
                    "now": now,
                    "due": due,
                    "on_timeout": None if deadline is None else deadline[1],
                    "served": 1 if served else 0,
                },
            )
        )
    return statements

"""The sweeper: questions whose deadline passed get their default answer, exactly once.

A question built with a deadline (`build_request(..., deadline_seconds=..., on_timeout=...)`)
is recorded with its due time among the thread's handoffs. `waypoint sweep` answers every
question past due with its default (`reject`, or `approve`: a default that proceeds runs the
node's own checks, such as re-reading the facts before an effect), as the actor `sweeper`,
through the same resume as a person's answer: under the thread's writer lock, only while that
very question is still pending. A thread busy elsewhere is left for the next sweep; a question
answered meanwhile is skipped. Each applied default is recorded in the ledger (the answer and
who gave it) and in the handoffs (`answered_by = sweeper`). A question whose default is to
escalate (`on_timeout="escalate"`, `escalate_to=USER`) is not answered: it is handed to that
user once (the handoff row says `escalated:USER`; webhook event `escalated`), who may then
answer it (`resume --as USER`) and finds it in `inbox --as USER`.

Before that, a sweep warns: a question with less than `WARN_FRACTION` of its waiting time left
is announced once as `deadline_near` to the webhooks (`waypoint.notifications`), so someone
can still answer before the default applies.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from waypoint.actors import acting_as
from waypoint.errors import BadInput, ThreadBusy
from waypoint.handoffs import ESCALATE, ESCALATED
from waypoint.json_records import JsonRecord
from waypoint.notifications import endpoints, event_statements
from waypoint.persistence.sql import Database, Row
from waypoint.persistence.stores import open_stores

logger = logging.getLogger("waypoint.sweeper")

SWEEPER = "sweeper"
"""The actor a default answer is recorded under."""

WARN_FRACTION = 0.2
"""A question is `deadline_near` once less than this share of its waiting time is left."""


@dataclass
class SweepResult(JsonRecord):
    """What one sweep did."""

    applied: list[dict[str, Any]] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warned: list[str] = field(default_factory=list)
    escalated: list[dict[str, Any]] = field(default_factory=list)
    """Questions handed to their `escalate_to` user by this sweep."""
    """Interrupt ids near their deadline (`deadline_near` is queued once per question, ever:
    a later sweep lists it again but queues nothing new)."""


async def _warn_near(db: Database, now: datetime) -> list[str]:
    """Queue `deadline_near` for questions close to their deadline; their interrupt ids."""
    if not endpoints():
        return []
    near = await db.fetchall(
        "SELECT thread_id, handoff_id, graph, kind, asked_at, deadline_at FROM waypoint_handoffs "
        "WHERE answered_at IS NULL AND deadline_at IS NOT NULL AND deadline_at > :now "
        "ORDER BY deadline_at",
        {"now": now.isoformat()},
    )
    warned: list[str] = []
    statements = []
    for row in near:
        asked = datetime.fromisoformat(str(row["asked_at"]))
        due = datetime.fromisoformat(str(row["deadline_at"]))
        if due - now > (due - asked) * WARN_FRACTION:
            continue
        warned.append(str(row["handoff_id"]))
        statements += event_statements(
            str(row["thread_id"]),
            str(row["graph"]),
            "deadline_near",
            str(row["handoff_id"]),
            {"interrupt_id": row["handoff_id"], "kind": row["kind"], "deadline_at": str(due)},
        )
    if statements:
        await db.batch(statements)  # queued once per event and endpoint (ON CONFLICT)
    return warned


def default_answer(outcome: str, due: str) -> dict[str, Any]:
    """The HITL response the sweeper gives for a default outcome."""
    decision: dict[str, Any] = {"type": outcome}
    if outcome == "reject":
        decision["message"] = f"no answer by {due}: the default (reject) applied"
    return {"decisions": [decision]}


async def _escalate(db: Database, row: Row, result: SweepResult) -> None:
    """Hand a question past its deadline to its `escalate_to` user, once, and announce it.

    The handoff row says so (`on_timeout = escalated:USER`, no deadline left), in the same
    round trip as the `escalated` webhook; a second sweeper finds nothing left to do.
    """
    target = str(row["on_timeout"]).removeprefix(ESCALATE)
    changed = await db.execute(
        "UPDATE waypoint_handoffs SET on_timeout = :done, deadline_at = NULL "
        "WHERE thread_id = :t AND handoff_id = :h AND on_timeout = :due AND answered_at IS NULL",
        {"done": f"{ESCALATED}{target}", "t": row["thread_id"], "h": row["handoff_id"],
         "due": row["on_timeout"]},
    )  # fmt: skip
    if changed != 1:
        return  # answered meanwhile, or another sweep escalated it
    events = event_statements(
        str(row["thread_id"]),
        str(row["graph"]),
        "escalated",
        str(row["handoff_id"]),
        {"interrupt_id": row["handoff_id"], "kind": row["kind"], "escalated_to": target},
    )
    if events:
        await db.batch(events)
    logger.info("sweep: %s escalated to %s", row["thread_id"], target)
    result.escalated.append(
        {"thread_id": row["thread_id"], "interrupt_id": row["handoff_id"], "to": target}
    )


async def sweep(*, db_url: str | None = None) -> SweepResult:
    """Apply the default answer of every question past its deadline."""
    from waypoint.runner import resume_thread

    moment = datetime.now(UTC)
    now = moment.isoformat()
    async with open_stores(db_url) as stores:
        warned = await _warn_near(stores.db, moment)
        due = await stores.db.fetchall(
            "SELECT thread_id, handoff_id, graph, kind, on_timeout, deadline_at "
            "FROM waypoint_handoffs WHERE answered_at IS NULL AND deadline_at IS NOT NULL "
            "AND deadline_at <= :now ORDER BY deadline_at",
            {"now": now},
        )
        result = SweepResult(warned=warned)
        for row in due:
            if str(row["on_timeout"]).startswith(ESCALATE):
                await _escalate(stores.db, row, result)
    for row in due:
        thread_id, interrupt_id = str(row["thread_id"]), str(row["handoff_id"])
        outcome, deadline = str(row["on_timeout"]), str(row["deadline_at"])
        if outcome.startswith(ESCALATE):
            continue
        try:
            with acting_as(SWEEPER):
                report = await resume_thread(
                    thread_id,
                    default_answer(outcome, deadline),
                    db_url=db_url,
                    interrupt_id=interrupt_id,
                )
        except ThreadBusy:
            result.busy.append(thread_id)
            continue
        except BadInput:  # answered, dropped or halted since the handoff was read
            result.skipped.append(thread_id)
            continue
        result.applied.append(
            {
                "thread_id": thread_id,
                "interrupt_id": interrupt_id,
                "outcome": outcome,
                "deadline_at": deadline,
                "status": report.status,
            }
        )
    return result

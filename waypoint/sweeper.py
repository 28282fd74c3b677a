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

Exactly once, across processes and crashes: a sweep claims each due question in the database
before it acts (`claimed_by`, `claimed_until` on its handoff row: a lease of
`WAYPOINT_SWEEP_LEASE_SECONDS`, default 300), so two sweeps never apply the same default; one
that crashed while holding a claim leaves it to the next sweep once the lease ends, which finds
the question still pending (applied again) or answered (skipped: the answer was applied). A
thread busy elsewhere or a question answered meanwhile gives the claim back at once.

Who applies a default depends on where the question was asked. A question asked by a run a
server started (`served` on its handoff row) is applied by that server's `sweep` worker
(`waypoint.server.workers`), through the server's own API, so the resume is a server run like
a person's answer; `waypoint sweep` leaves it to the server (listed as `served`). A question
asked by a run of the command line or of Python is applied by `waypoint sweep` (cron), through
the runner's resume. Warnings and escalations only write to the database; either does them.

Before that, a sweep warns: a question with less than `WARN_FRACTION` of its waiting time left
is announced once as `deadline_near` to the webhooks (`waypoint.notifications`), so someone
can still answer before the default applies.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from waypoint.actors import acting_as, answering_as
from waypoint.errors import BadInput, ThreadBusy
from waypoint.faults import pause_point
from waypoint.handoffs import ESCALATE, ESCALATED
from waypoint.json_records import JsonRecord
from waypoint.notifications import endpoints, event_statements
from waypoint.persistence.sql import Database, Row
from waypoint.persistence.stores import open_stores

logger = logging.getLogger("waypoint.sweeper")

SWEEPER = "sweeper"
"""The actor a default answer is recorded under."""

DEADLINE_ROLE = "deadline"
"""The role a default answer is recorded under (`answered_as`)."""

LEASE_ENV = "WAYPOINT_SWEEP_LEASE_SECONDS"
"""Environment variable: how long a sweep's claim on a question lasts (default 300 s)."""

Apply = Callable[[Row, dict[str, Any]], Awaitable[str]]
"""Applies a default answer to a claimed question: the thread's status after the resume.

Raises `ThreadBusy` (the thread runs elsewhere: next sweep) or `BadInput` (the question is not
pending any more: skipped).
"""

WARN_FRACTION = 0.2
"""A question is `deadline_near` once less than this share of its waiting time is left."""


@dataclass
class SweepResult(JsonRecord):
    """What one sweep did."""

    applied: list[dict[str, Any]] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warned: list[str] = field(default_factory=list)
    """Interrupt ids near their deadline (`deadline_near` is queued once per question, ever:
    a later sweep lists it again but queues nothing new)."""
    escalated: list[dict[str, Any]] = field(default_factory=list)
    """Questions handed to their `escalate_to` user by this sweep."""
    claimed: list[str] = field(default_factory=list)
    """Threads whose due question another sweep holds a claim on (it applies it)."""
    served: list[str] = field(default_factory=list)
    """Threads whose due question a server asked: its `sweep` worker applies it."""
    failed: list[str] = field(default_factory=list)
    """Threads whose default could not be applied this time (logged; the next sweep retries)."""


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

    The handoff row says so (`on_timeout = escalated:USER`, no deadline left) in the same
    transaction that queues the `escalated` webhook: a crash leaves both or neither, and a
    second sweeper finds nothing left to do.
    """
    target = str(row["on_timeout"]).removeprefix(ESCALATE)
    events = event_statements(
        str(row["thread_id"]),
        str(row["graph"]),
        "escalated",
        str(row["handoff_id"]),
        {"interrupt_id": row["handoff_id"], "kind": row["kind"], "escalated_to": target},
    )
    async with db.transaction() as tx:
        changed = await tx.execute(
            "UPDATE waypoint_handoffs SET on_timeout = :done, deadline_at = NULL WHERE "
            "thread_id = :t AND handoff_id = :h AND on_timeout = :due AND answered_at IS NULL",
            {"done": f"{ESCALATED}{target}", "t": row["thread_id"], "h": row["handoff_id"],
             "due": row["on_timeout"]},
        )  # fmt: skip
        if changed != 1:
            return  # answered meanwhile, or another sweep escalated it
        pause_point("sweep:escalating")  # crash tests: the handoff changed, not committed yet
        for sql, params in events:
            await tx.execute(sql, params)
    logger.info("sweep: %s escalated to %s", row["thread_id"], target)
    result.escalated.append(
        {"thread_id": row["thread_id"], "interrupt_id": row["handoff_id"], "to": target}
    )


def lease_seconds() -> float:
    """How long a claim on a question lasts (`WAYPOINT_SWEEP_LEASE_SECONDS`, default 300)."""
    raw = os.environ.get(LEASE_ENV, "").strip()
    try:
        seconds = float(raw) if raw else 300.0
    except ValueError:
        expected = f"{LEASE_ENV}: expected seconds, got {raw[:40]!r}"
        raise BadInput(expected, field=LEASE_ENV) from None
    if seconds <= 0:
        raise BadInput(f"{LEASE_ENV}: expected a positive number of seconds", field=LEASE_ENV)
    return seconds


def claimer_name(where: str) -> str:
    """Who holds a claim: `sweeper@HOST:PID/WHERE/NONCE` (kept on the row for the audit)."""
    return f"{SWEEPER}@{socket.gethostname()}:{os.getpid()}/{where}/{uuid.uuid4().hex[:8]}"


async def claim(db: Database, row: Row, claimer: str) -> bool:
    """Claim a due question for this sweep: true for exactly one sweep until the lease ends.

    Only an unanswered question is claimed, and only if no other claim on it is live.
    """
    moment = datetime.now(UTC)
    changed = await db.execute(
        "UPDATE waypoint_handoffs SET claimed_by = :me, claimed_until = :until "
        "WHERE thread_id = :t AND handoff_id = :h AND answered_at IS NULL "
        "AND deadline_at IS NOT NULL AND (claimed_until IS NULL OR claimed_until <= :now)",
        {"me": claimer, "until": (moment + timedelta(seconds=lease_seconds())).isoformat(),
         "t": row["thread_id"], "h": row["handoff_id"], "now": moment.isoformat()},
    )  # fmt: skip
    return changed == 1


async def release(db: Database, row: Row, claimer: str) -> None:
    """Give a claim back (the thread was busy, or the question was answered meanwhile)."""
    await db.execute(
        "UPDATE waypoint_handoffs SET claimed_until = NULL "
        "WHERE thread_id = :t AND handoff_id = :h AND claimed_by = :me",
        {"t": row["thread_id"], "h": row["handoff_id"], "me": claimer},
    )


async def _due(db: Database, result: SweepResult) -> list[Row]:
    """Warn, escalate, and list the questions whose default answer is due now."""
    moment = datetime.now(UTC)
    result.warned = await _warn_near(db, moment)
    due = await db.fetchall(
        "SELECT thread_id, handoff_id, graph, kind, on_timeout, deadline_at, served "
        "FROM waypoint_handoffs WHERE answered_at IS NULL AND deadline_at IS NOT NULL "
        "AND deadline_at <= :now ORDER BY deadline_at",
        {"now": moment.isoformat()},
    )
    answers = []
    for row in due:
        if str(row["on_timeout"]).startswith(ESCALATE):
            await _escalate(db, row, result)
        else:
            answers.append(row)
    return answers


async def apply_due(db: Database, *, served: bool, apply: Apply, where: str) -> SweepResult:
    """One sweep on an open database: warn, escalate, and apply the due defaults of one kind.

    `served`: apply the questions servers asked (a server's `sweep` worker), else the others
    (`waypoint sweep`); the rest is listed, not touched. Each is claimed first (`claim`).
    """
    result = SweepResult()
    claimer = claimer_name(where)
    for row in await _due(db, result):
        thread_id, interrupt_id = str(row["thread_id"]), str(row["handoff_id"])
        if bool(row["served"]) != served:
            if not served:  # a server's question: its worker applies it
                result.served.append(thread_id)
            continue
        if not await claim(db, row, claimer):
            result.claimed.append(thread_id)
            continue
        pause_point("sweep:claimed")  # crash tests: a sweeper that dies holding a claim
        outcome, deadline = str(row["on_timeout"]), str(row["deadline_at"])
        try:
            status = await apply(row, default_answer(outcome, deadline))
        except ThreadBusy:
            await release(db, row, claimer)
            result.busy.append(thread_id)
            continue
        except BadInput:  # answered, dropped or halted since the handoff was read
            await release(db, row, claimer)
            result.skipped.append(thread_id)
            continue
        except Exception:
            logger.exception("sweep: could not apply the default of %s; next sweep", thread_id)
            await release(db, row, claimer)
            result.failed.append(thread_id)
            continue
        logger.info("sweep: %s %s (due %s), now %s", thread_id, outcome, deadline, status)
        result.applied.append(
            {
                "thread_id": thread_id,
                "interrupt_id": interrupt_id,
                "outcome": outcome,
                "deadline_at": deadline,
                "status": status,
            }
        )
    return result


async def sweep(*, db_url: str | None = None) -> SweepResult:
    """Apply the default answer of every question past its deadline (`waypoint sweep`).

    Questions a server asked are left to its `sweep` worker (`SweepResult.served`).
    """
    from waypoint.runner import resume_thread

    async def resume(row: Row, answer: dict[str, Any]) -> str:
        with acting_as(SWEEPER), answering_as(DEADLINE_ROLE):
            report = await resume_thread(
                str(row["thread_id"]),
                answer,
                db_url=db_url,
                interrupt_id=str(row["handoff_id"]),
            )
        return report.status

    async with open_stores(db_url) as stores:
        return await apply_due(stores.db, served=False, apply=resume, where="cli")

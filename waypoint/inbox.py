"""The inbox: every question waiting for a human, across threads, oldest first.

Read from the handoffs (`waypoint.handoffs`: when each question was asked) and, for the
request itself, from each waiting thread's checkpoint (where it is stored encrypted when a key
is set), so the inbox never shows a question that was answered or a thread that moved on. A
thread of a graph this installation does not serve is listed with what its handoff row says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from waypoint.errors import BadInput
from waypoint.handoffs import ESCALATED
from waypoint.input_checks import check_id
from waypoint.json_records import JsonRecord
from waypoint.persistence.sql import Database, Row
from waypoint.persistence.stores import open_stores


@dataclass
class InboxItem(JsonRecord):
    """One waiting question: where, since when, and what is asked."""

    thread_id: str
    graph: str
    interrupt_id: str
    node: str | None
    kind: str
    asked_at: str
    age_s: float
    action: str | None
    args: Any
    description: str | None
    allowed_decisions: list[str]
    request: Any
    """The whole question as the workflow asked it (an HITL request, or a plain value)."""
    escalated_to: str | None = None
    """Who the question was handed to when its deadline passed (`on_timeout="escalate"`)."""


def _request_parts(value: Any) -> tuple[str | None, Any, str | None, list[str]]:
    """Action, args, description and allowed decisions of an HITL request (plain: the value)."""
    if isinstance(value, dict) and isinstance(value.get("action_requests"), list):
        requests, reviews = value["action_requests"], value.get("review_configs") or [{}]
        first = requests[0] if requests else {}
        review = reviews[0] if reviews else {}
        return (
            first.get("name"),
            first.get("args"),
            first.get("description"),
            list(review.get("allowed_decisions") or []),
        )
    return None, value, None, []


def _where(
    graph: str | None, older_than: timedelta | None, now: datetime
) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"graph": graph}
    where = "h.answered_at IS NULL AND t.status = 'waiting'"
    where += " AND (CAST(:graph AS TEXT) IS NULL OR h.graph = :graph)"
    if older_than is not None:
        params["cutoff"] = (now - older_than).isoformat()
        where += " AND h.asked_at <= :cutoff"
    return where, params


async def waiting_handoffs(
    db: Database, *, graph: str | None = None, older_than: timedelta | None = None
) -> list[Row]:
    """The handoffs still unanswered on threads indexed as waiting, oldest first.

    A row says where and when a question was asked (`thread_id`, `handoff_id` = the interrupt
    id, `graph`, `node`, `kind`, `asked_at`) and who started the thread (`started_by`, from its
    first ledger row), and its default at the deadline (`on_timeout`); the question itself
    lives in the checkpoint.
    """
    if graph is not None:
        check_id(graph, "graph", what="graph name")
    where, params = _where(graph, older_than, datetime.now(UTC))
    return await db.fetchall(
        "SELECT h.thread_id, h.handoff_id, h.graph, h.node, h.kind, h.asked_at, h.on_timeout, "
        "(SELECT l.actor FROM waypoint_ledger l WHERE l.thread_id = h.thread_id "
        "ORDER BY l.started_at LIMIT 1) AS started_by "
        "FROM waypoint_handoffs h JOIN waypoint_threads t ON t.thread_id = h.thread_id "
        f"WHERE {where} ORDER BY h.asked_at, h.thread_id",
        params,
    )


def escalated_to(row: Row) -> str | None:
    """The user a question past its deadline was handed to (`waypoint.sweeper`), if any."""
    outcome = str(row.get("on_timeout") or "")
    return outcome.removeprefix(ESCALATED) if outcome.startswith(ESCALATED) else None


def inbox_item(row: Row, value: Any, node: str | None, now: datetime) -> InboxItem:
    """One inbox entry: a handoff row and the question it stands for (`value`, as asked)."""
    action, args, description, allowed = _request_parts(value)
    asked = datetime.fromisoformat(str(row["asked_at"]))
    return InboxItem(
        thread_id=str(row["thread_id"]),
        graph=str(row["graph"]),
        interrupt_id=str(row["handoff_id"]),
        node=node,
        kind=str(row["kind"]),
        asked_at=str(row["asked_at"]),
        age_s=round((now - asked).total_seconds(), 3),
        action=action,
        args=args,
        description=description,
        allowed_decisions=allowed,
        request=value,
        escalated_to=escalated_to(row),
    )


async def waiting_questions(
    *,
    db_url: str | None = None,
    graph: str | None = None,
    older_than: timedelta | None = None,
    as_user: str | None = None,
) -> list[InboxItem]:
    """Every question waiting for a human, oldest first (optionally of one graph, or older).

    With `as_user`, only those that user may answer: of the threads it started, of the
    workflows it reviews (`waypoint.roles`), and those escalated to it.
    """
    from waypoint.roles import RoleConfigError, reviewed_graphs
    from waypoint.runner import _compiled, current_report
    from waypoint.workflows import load_workflow

    reviewed: frozenset[str] = frozenset({"*"})
    if as_user is not None:
        check_id(as_user, "as", what="user name")
        try:
            reviewed = reviewed_graphs(as_user)
        except RoleConfigError as exc:
            raise BadInput(f"as: {exc}", field="as") from None
    now = datetime.now(UTC)
    items: list[InboxItem] = []
    async with open_stores(db_url) as stores:
        rows = await waiting_handoffs(stores.db, graph=graph, older_than=older_than)
        pending: dict[str, dict[str, Any] | None] = {}
        for row in rows:
            thread_id = str(row["thread_id"])
            mine = as_user is None or as_user in (row["started_by"], escalated_to(row))
            if not (mine or "*" in reviewed or row["graph"] in reviewed):
                continue
            if thread_id not in pending:
                try:
                    workflow = load_workflow(str(row["graph"]))
                except BadInput:  # a graph this installation does not serve: what the row says
                    pending[thread_id] = None
                else:
                    compiled = await _compiled(workflow, stores)
                    report = await current_report(compiled, thread_id, workflow.name)
                    pending[thread_id] = {i.id: i for i in report.interrupts}
            questions = pending[thread_id]
            question = None if questions is None else questions.get(str(row["handoff_id"]))
            if questions is not None and question is None:
                continue  # answered or dropped since the handoff was written
            value = None if question is None else question.value
            node = row["node"] if question is None else question.node
            items.append(inbox_item(row, value, node, now))
    return items

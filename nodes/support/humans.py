"""Human steps of `support`: triage, escalation and approval, all in the HITL request shape.

Each node runs again from its first line on resume, so everything before `ask_human` is a pure
function of the state.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from state.support import (
    Category,
    Classification,
    Draft,
    HumanAnswer,
    Resolution,
    SupportState,
)
from waypoint import BadInput, HumanDecision, acting_user, ask_human, build_request, update

if TYPE_CHECKING:  # a type only: importing `langchain.agents` costs a command ≈50 ms
    from langchain.agents.middleware.human_in_the_loop import DecisionType


class TriageEdit(BaseModel):
    """What a human may change at triage: the category."""

    category: Category


def _answer(
    step: Literal["triage", "escalation", "approval"],
    decision: HumanDecision,
    config: RunnableConfig,
) -> HumanAnswer:
    edited = {k: str(v) for k, v in (decision.edited_args or {}).items()} or None
    return HumanAnswer(
        step=step,
        decision=decision.type,
        message=decision.message,
        edited_args=edited,
        answered_by=acting_user(config),
    )


def _closed(decision: HumanDecision) -> Resolution | None:
    return Resolution(kind="rejected") if decision.type == "reject" else None


async def human_triage(state: SupportState, config: RunnableConfig) -> dict[str, Any]:
    """Low-confidence classification: a human confirms, corrects, answers or closes the ticket."""
    assert state.classification is not None and state.classification_verdict is not None
    request = build_request(
        action="triage_ticket",
        args={"category": state.classification.category, "message": state.message},
        description=(
            f"Ticket {state.ticket_id} from {state.customer_id}: the classifier is unsure "
            f"({'; '.join(state.classification_verdict.reasons)}). Approve its category "
            f"'{state.classification.category}', edit the category, respond to the customer "
            "yourself, or reject to close the ticket."
        ),
        allowed=["approve", "edit", "respond", "reject"],
        args_schema=TriageEdit,
    )
    decision = ask_human(request)
    fields: dict[str, Any] = {"human": _answer("triage", decision, config)}
    if decision.type in ("approve", "edit"):
        edited = decision.edits(TriageEdit) if decision.type == "edit" else None
        category = edited.category if edited else state.classification.category
        fields["classification"] = Classification(
            category=category, confidence=1.0, rationale=f"set by a human at triage ({category})"
        )
    fields["resolution"] = _closed(decision)
    return update(**fields)


def route_after_triage(state: SupportState) -> Literal["lookup", "execute", "__end__"]:
    """Confirmed → lookup; answered by the human → send it; rejected → end."""
    assert state.human is not None
    if state.human.decision == "respond":
        return "execute"
    if state.human.decision == "reject":
        return "__end__"
    return "lookup"


async def escalate(state: SupportState, config: RunnableConfig) -> dict[str, Any]:
    """The CRM could not confirm the customer or order: a human answers or closes the ticket."""
    assert state.lookup is not None
    problems = state.lookup.problems or ["customer record incomplete"]
    request = build_request(
        action="handle_ticket",
        args={
            "ticket_id": state.ticket_id,
            "customer_id": state.customer_id,
            "order_id": state.order_id or "",
            "message": state.message,
        },
        description=f"Escalated, nothing was guessed: {'; '.join(problems)}. "
        "Respond to the customer yourself, or reject to close the ticket.",
        allowed=["respond", "reject"],
    )
    decision = ask_human(request)
    return update(human=_answer("escalation", decision, config), resolution=_closed(decision))


def route_after_escalation(state: SupportState) -> Literal["execute", "__end__"]:
    """A human reply is sent; a rejection ends the ticket."""
    assert state.human is not None
    return "execute" if state.human.decision == "respond" else "__end__"


def _approval_request(state: SupportState) -> tuple[Any, Decimal]:
    assert state.decision is not None and state.draft is not None and state.lookup is not None
    decision = state.decision
    order_total = state.lookup.order.total if state.lookup.order else Decimal("0.00")
    last_review = state.review_verdicts[-1] if state.review_verdicts else None
    review_passed = last_review is not None and last_review.passed
    reasons = list(decision.approval_reasons)
    if not review_passed:
        failed = "; ".join(last_review.reasons) if last_review else "no review"
        reasons.append(f"the draft failed review {state.drafts_in_round} time(s): {failed}")
    verdicts = [state.classification_verdict, *state.review_verdicts[-1:]]
    gates = "; ".join(
        f"{v.gate} {'passed' if v.passed else 'failed'}" for v in verdicts if v is not None
    )
    is_refund = decision.outcome == "refund"
    action = "issue_refund" if is_refund else "send_reply"
    allowed: list[DecisionType] = ["edit", "reject", "respond"]
    if review_passed:
        allowed.insert(0, "approve")
    properties: dict[str, Any] = {"reply": {"type": "string", "minLength": 1}}
    if is_refund:
        properties["amount"] = {"type": "number", "minimum": 0.01, "maximum": float(order_total)}
    summary = (
        f"Refund {decision.amount} {decision.currency} on order {state.order_id}"
        if is_refund
        else f"Send the reply to ticket {state.ticket_id} (no refund)"
    )
    request = build_request(
        action=action,
        args={
            "ticket_id": state.ticket_id,
            "order_id": state.order_id or "",
            "amount": str(decision.amount),
            "currency": decision.currency,
            "reply": state.draft.text,
        },
        description=f"{summary}. Needs a human because: {'; '.join(reasons)}. "
        f"Gates: {gates}. Policy rule: {decision.rule}.",
        allowed=allowed,
        args_schema={"type": "object", "properties": properties},
    )
    return request, order_total


async def approval(state: SupportState, config: RunnableConfig) -> dict[str, Any]:
    """A human approves, edits (re-checked by policy), rejects, or writes the reply."""
    assert state.decision is not None and state.draft is not None
    request, order_total = _approval_request(state)

    def recheck(answer: HumanDecision) -> None:
        amount = (answer.edited_args or {}).get("amount")
        if amount is not None and not Decimal("0") < Decimal(amount) <= order_total:
            raise BadInput(
                f"edited_action.args.amount: must be above 0 and at most the order total "
                f"{order_total}",
                field="edited_action.args.amount",
            )

    decision = ask_human(request, recheck=recheck)
    fields: dict[str, Any] = {"human": _answer("approval", decision, config)}
    if decision.type == "edit":
        edits = decision.edited_args or {}
        new_amount = Decimal(edits["amount"]) if "amount" in edits else state.decision.amount
        fields["decision"] = state.decision.model_copy(
            update={
                "amount": new_amount,
                "rule": f"{state.decision.rule}; amount edited by a human"
                if "amount" in edits
                else state.decision.rule,
                "needs_approval": False,
                "approval_reasons": [],
            }
        )
        if "reply" in edits:
            fields["draft"] = Draft(text=edits["reply"], attempt=state.draft.attempt + 1)
        else:
            fields["draft"] = None
            fields["drafts_in_round"] = 0
            fields["reviewer_feedback"] = []
    fields["resolution"] = _closed(decision)
    return update(**fields)


def route_after_approval(state: SupportState) -> Literal["execute", "draft", "__end__"]:
    """Approve/respond → execute; an edit without a new reply → redraft; reject → end."""
    assert state.human is not None
    if state.human.decision == "reject":
        return "__end__"
    if state.human.decision == "edit" and state.draft is None:
        return "draft"
    return "execute"

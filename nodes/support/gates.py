"""Quality gates of `support`: evaluator nodes whose typed verdicts drive conditional edges."""

from __future__ import annotations

import re
from typing import Any, Literal

from langgraph.runtime import Runtime

from nodes.support.capabilities import SIGN_OFF, known_customers
from state.support import Draft, RefundDecision, SupportContext, SupportState
from waypoint import GateVerdict, update

_MONEY = re.compile(r"\b\d+\.\d{2}\b")
_CUSTOMER_ID = re.compile(r"\bC-\d+\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


async def classification_gate(
    state: SupportState, runtime: Runtime[SupportContext]
) -> dict[str, Any]:
    """Pass when the classifier is confident enough for the run's threshold."""
    assert state.classification is not None
    threshold = runtime.context.classification_threshold
    confidence = state.classification.confidence
    passed = confidence >= threshold
    reasons = [] if passed else [f"confidence {confidence:.2f} below threshold {threshold:.2f}"]
    verdict = GateVerdict(gate="classification", passed=passed, reasons=reasons, score=confidence)
    return update(classification_verdict=verdict)


def route_after_classification(state: SupportState) -> Literal["lookup", "human_triage"]:
    """Confident classifications go on; the rest go to a human."""
    verdict = state.classification_verdict
    return "lookup" if verdict is not None and verdict.passed else "human_triage"


def review_checks(
    draft: Draft, decision: RefundDecision, ticket_id: str, customer_id: str, email: str
) -> list[str]:
    """Every way the draft disagrees with the decision; empty when it is fit to send."""
    text = draft.text
    lowered = text.lower()
    problems: list[str] = []
    if f"ticket {ticket_id}".lower() not in lowered:
        problems.append(f"must mention 'ticket {ticket_id}'")
    if SIGN_OFF.lower() not in lowered:
        problems.append(f"must end with the sign-off '{SIGN_OFF}'")
    amounts = set(_MONEY.findall(text))
    if decision.outcome == "refund":
        wanted = f"refund of {decision.amount} {decision.currency}"
        if wanted.lower() not in lowered:
            problems.append(f"must say '{wanted}'")
        if amounts - {str(decision.amount)}:
            problems.append(f"mentions other amounts: {', '.join(sorted(amounts))}")
    else:
        if re.search(r"refund of \d", lowered):
            problems.append("promises a refund, but the decision is no refund")
        if decision.outcome == "deny" and "unable to refund" not in lowered:
            problems.append("must say 'unable to refund'")
        if amounts:
            problems.append(f"mentions amounts with no refund due: {', '.join(sorted(amounts))}")
    others = {c.customer_id for c in known_customers()} | set(_CUSTOMER_ID.findall(text))
    leaked_ids = sorted(cid for cid in others - {customer_id} if cid in text)
    leaked_emails = sorted(e for e in _EMAIL.findall(text) if e.lower() != email.lower())
    leaked_names = sorted(
        c.name for c in known_customers() if c.customer_id != customer_id and c.name in text
    )
    if leaked_ids or leaked_emails or leaked_names:
        problems.append(
            "contains another customer's data: "
            + ", ".join(leaked_ids + leaked_emails + leaked_names)
        )
    return problems


async def review_gate(state: SupportState) -> dict[str, Any]:
    """Check the draft against the decision; keep the verdict and feedback for a redraft."""
    assert state.draft is not None and state.decision is not None and state.lookup is not None
    assert state.lookup.customer is not None
    problems = review_checks(
        state.draft,
        state.decision,
        state.ticket_id,
        state.customer_id,
        state.lookup.customer.email,
    )
    verdict = GateVerdict(gate="review", passed=not problems, reasons=problems)
    return update(
        review_verdicts=[*state.review_verdicts, verdict],
        reviewer_feedback=problems,
    )


def route_after_review(state: SupportState) -> Literal["execute", "approval", "draft"]:
    """Pass → execute (or approval when policy wants a human); fail → redraft, then a human."""
    assert state.decision is not None
    last = state.review_verdicts[-1] if state.review_verdicts else None
    if last is not None and last.passed:
        return "approval" if state.decision.needs_approval else "execute"
    if state.drafts_in_round <= state.draft_revisions_allowed:
        return "draft"
    return "approval"

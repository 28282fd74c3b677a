"""Typed state of the `support` workflow (customer refund desk).

Checkpoints hold plain JSON: nodes return dicts (see `waypoint.state_updates.dump`), and the
pydantic models below are rebuilt from them when a node reads the state. That keeps checkpoints
portable across code changes, safe under `LANGGRAPH_STRICT_MSGPACK=true`, and easy to diff.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from waypoint import (
    PROTECTED,
    SENSITIVE,
    Budgets,
    Failure,
    GateVerdict,
    Halt,
    ThreadSummary,
    WorkflowContext,
    WorkflowState,
)

SCHEMA_VERSION = 1
"""Version of this state schema; stored in every thread so old threads can be migrated."""


Category = Literal["refund", "shipping", "other"]
DecisionType = Literal["approve", "edit", "reject", "respond"]


class TicketInput(BaseModel):
    """What a caller sends to start a `support` run."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    ticket_id: str = Field(min_length=1, max_length=64, description="Caller's ticket id.")
    customer_id: str = Field(min_length=1, max_length=64, description="CRM customer id.")
    message: str = Field(min_length=1, max_length=10_000, description="The customer's words.")
    order_id: str | None = Field(
        default=None, max_length=64, description="Order the ticket is about, if known."
    )

    @field_validator("order_id")
    @classmethod
    def _empty_order_is_none(cls, value: str | None) -> str | None:
        return value or None


class Classification(BaseModel):
    """Output of the `classify_ticket` capability."""

    category: Category = Field(description="What the customer wants.")
    confidence: float = Field(ge=0.0, le=1.0, description="Classifier confidence, 0..1.")
    rationale: str = Field(description="One sentence on why.")


class Customer(BaseModel):
    """A CRM customer record."""

    customer_id: str
    name: str
    email: str = Field(json_schema_extra=SENSITIVE)
    fraud_flag: bool = False


class Order(BaseModel):
    """A CRM order record."""

    order_id: str
    customer_id: str
    total: Decimal = Field(decimal_places=2)
    currency: str = "USD"
    status: Literal["delivered", "shipped", "processing", "refunded"] = "delivered"
    refunded_amount: Decimal = Field(
        default=Decimal("0.00"), decimal_places=2, ge=0, description="Refunded of it so far."
    )

    def facts(self) -> dict[str, str]:
        """What a refund decision rests on, as text (compared again before paying)."""
        return {
            "order_id": self.order_id,
            "customer_id": self.customer_id,
            "status": self.status,
            "total": str(self.total),
            "refunded_amount": str(self.refunded_amount),
            "currency": self.currency,
        }


class LookupResult(BaseModel):
    """Output of the `crm_lookup` capability: what was found and what was not."""

    customer: Customer | None = None
    order: Order | None = None
    problems: list[str] = Field(default_factory=list, description="Why the lookup is unusable.")

    def facts(self) -> dict[str, str]:
        """What a refund rests on: the order's facts and the customer's fraud flag."""
        if self.order is None:
            return {}
        fraud = bool(self.customer is not None and self.customer.fraud_flag)
        return {**self.order.facts(), "fraud_flag": str(fraud)}


class RefundDecision(BaseModel):
    """Outcome of the refund policy (plain code, see `nodes.support.decide`)."""

    outcome: Literal["refund", "no_refund", "deny"]
    amount: Decimal = Field(default=Decimal("0.00"), decimal_places=2, ge=0)
    currency: str = "USD"
    rule: str = Field(description="Policy rule that produced this outcome.")
    needs_approval: bool = False
    approval_reasons: list[str] = Field(default_factory=list)
    facts: dict[str, str] = Field(
        default_factory=dict,
        description="The CRM facts the decision rests on (the order, the customer's fraud "
        "flag), read again just before paying: if any changed, nothing is paid and the ticket "
        "is decided again.",
    )


class Draft(BaseModel):
    """A reply drafted by the `draft_reply` capability."""

    text: str = Field(min_length=1)
    attempt: int = Field(ge=1, description="1 for the first draft, 2 for the first revision...")


class HumanAnswer(BaseModel):
    """What a human decided at an interrupt, kept for the audit trail."""

    step: Literal["triage", "escalation", "approval"]
    decision: DecisionType
    message: str | None = None
    edited_args: dict[str, str] | None = None
    answered_by: str | None = None


class Resolution(BaseModel):
    """How the ticket ended."""

    kind: Literal["refunded", "replied", "rejected", "closed_by_human"]
    refund_amount: Decimal = Field(default=Decimal("0.00"), decimal_places=2)
    payment_id: str | None = None
    outbox_id: str | None = None
    effects_replayed: bool = Field(
        default=False,
        description="The payment or reply was made by an earlier execution of this thread "
        "(a retry, a resume, or another branch); `refund_amount` is what was actually paid.",
    )


class SupportState(TicketInput, WorkflowState):
    """Shared state of one `support` thread (the kit's fields come from `WorkflowState`)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    classification: Classification | None = Field(default=None, json_schema_extra=PROTECTED)
    classification_verdict: GateVerdict | None = Field(default=None, json_schema_extra=PROTECTED)
    lookup: LookupResult | None = Field(
        default=None, description="CRM facts the decision rests on.", json_schema_extra=PROTECTED
    )
    decision: RefundDecision | None = Field(default=None, json_schema_extra=PROTECTED)
    draft: Draft | None = Field(
        default=None, description="The reply the review gate checks.", json_schema_extra=PROTECTED
    )
    review_verdicts: list[GateVerdict] = Field(
        default_factory=list,
        description="Review gate verdicts, one per draft, oldest first.",
        json_schema_extra=PROTECTED,
    )
    drafts_in_round: int = Field(
        default=0,
        description="Drafts since the decision last changed; bounds the review loop.",
        json_schema_extra=PROTECTED,
    )
    draft_revisions_allowed: int = Field(
        default=2,
        description="Redrafts allowed after a failed review (copied from the run context by "
        "decide, so routing depends on state alone and survives update_state and replay).",
        json_schema_extra=PROTECTED,
    )
    reviewer_feedback: list[str] = Field(
        default_factory=list,
        description="Failed checks of the last draft, for the next one.",
        json_schema_extra=PROTECTED,
    )
    human: HumanAnswer | None = Field(default=None, json_schema_extra=PROTECTED)
    resolution: Resolution | None = Field(default=None, json_schema_extra=PROTECTED)
    stale_facts: list[str] = Field(
        default_factory=list,
        description="What changed in the CRM between the decision and the payment (nothing "
        "was paid; the ticket was decided again).",
        json_schema_extra=PROTECTED,
    )

    def summary(self) -> ThreadSummary:
        """The ticket, and how it was resolved (`threads`, `status`, the demo, KPIs)."""
        outcome = None
        if self.resolution is not None:
            paid = self.resolution.refund_amount
            outcome = self.resolution.kind + (f" {paid}" if paid else "")
            if self.decision is not None and self.decision.outcome == "deny":
                outcome += f" (refund denied: {self.decision.rule})"
            if self.stale_facts:
                outcome += f"; the order changed before paying ({'; '.join(self.stale_facts)})"
        return ThreadSummary(subject=self.ticket_id, outcome=outcome)


class SupportOutput(BaseModel):
    """What a finished (or paused) `support` run returns."""

    ticket_id: str
    resolution: Resolution | None = None
    decision: RefundDecision | None = None
    draft: Draft | None = None
    human: HumanAnswer | None = None
    failure: Failure | None = None
    halt: Halt | None = None


class SupportContext(WorkflowContext):
    """Run-time settings of a `support` run (Studio shows these descriptions)."""

    approval_threshold: Decimal = Field(
        default=Decimal("100.00"),
        ge=0,
        description="Refunds above this amount need a human approval. Policy: a run may only "
        "lower it (`[policy.support]` in waypoint.toml sets the most).",
        json_schema_extra={"policy": "at_most"},
    )
    classification_threshold: float = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        description="Classifier confidence below this sends the ticket to human triage. "
        "Policy: a run may only raise it.",
        json_schema_extra={"policy": "at_least"},
    )
    max_draft_revisions: int = Field(
        default=2,
        ge=0,
        le=10,
        description="How many times a draft that fails review is redrafted before a human sees "
        "it. Policy: a run may only lower it.",
        json_schema_extra={"policy": "at_most"},
    )
    budgets: Budgets = Field(
        default_factory=lambda: Budgets(steps=60, model_calls=30, wall_seconds=300, node_visits=12),
        description="Per-run limits: steps, model calls, tokens, cost, wall time, node visits, "
        "allowed side effects. A breach halts the run before its next node (exit 4). Policy: "
        "a run may only tighten each.",
    )
    model: str | None = Field(
        default=None,
        description="'provider:model' for the LLM capabilities (classify, draft); "
        "empty means the offline deterministic providers.",
    )

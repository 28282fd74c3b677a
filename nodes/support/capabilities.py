"""Capabilities of the `support` workflow: contracts, offline providers and model prompts.

The offline providers are deterministic stand-ins, documented as such: a keyword classifier, a
CRM reader over the demo CRM tables (`nodes/support/crm.py`), and a template reply writer. Give the
run context a `model` (`provider:model`) and `classify_ticket` and `draft_reply` are served by
that chat model instead, with the prompts below; `crm_lookup` always reads the CRM.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cache
from typing import Literal

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from nodes.support.crm import read_customer, read_order, seed_data
from state.support import Category, Classification, Customer, LookupResult
from waypoint import Capability, OfflineProvider, registry, run_database

SIGN_OFF = "Waypoint Support"


class ClassifyRequest(BaseModel):
    """Input of `classify_ticket`."""

    message: str
    has_order_id: bool


class LookupRequest(BaseModel):
    """Input of `crm_lookup`."""

    customer_id: str
    order_id: str | None
    category: Category


class DraftRequest(BaseModel):
    """Input of `draft_reply`: everything the reply must state, and what the last one got wrong."""

    ticket_id: str
    customer_name: str
    category: Category
    outcome: Literal["refund", "no_refund", "deny"]
    amount: Decimal
    currency: str
    order_id: str | None
    attempt: int = Field(ge=1)
    feedback: list[str] = Field(default_factory=list)


class DraftText(BaseModel):
    """Output of `draft_reply`."""

    text: str = Field(min_length=1, description="The full reply to the customer.")


CLASSIFY = Capability(
    name="classify_ticket",
    description="Category (refund, shipping, other), confidence and rationale for a ticket.",
    input_model=ClassifyRequest,
    output_model=Classification,
)
LOOKUP = Capability(
    name="crm_lookup",
    description="Customer and order records for a ticket; unknown ids are reported, not guessed.",
    input_model=LookupRequest,
    output_model=LookupResult,
)
DRAFT = Capability(
    name="draft_reply",
    description="A reply that states the refund decision and amount.",
    input_model=DraftRequest,
    output_model=DraftText,
)

# --- offline classifier --------------------------------------------------------------------

_REFUND_WORDS = ("refund", "money back", "charged twice", "broken", "damaged", "return", "cancel")
_SHIPPING_WORDS = ("where is", "tracking", "delivery", "shipping", "shipped", "arrive", "late")
_COMMON_WORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "have",
        "hello",
        "hi",
        "how",
        "i",
        "is",
        "it",
        "me",
        "my",
        "not",
        "of",
        "on",
        "or",
        "please",
        "the",
        "this",
        "to",
        "was",
        "what",
        "when",
        "why",
        "with",
        "you",
        "your",
        "order",
        "help",
        "question",
        "thanks",
        "thank",
    }
)


def classify_offline(request: ClassifyRequest) -> Classification:
    """Deterministic keyword classifier (offline stand-in for a model)."""
    text = request.message.lower()
    refund_hits = [w for w in _REFUND_WORDS if w in text]
    shipping_hits = [w for w in _SHIPPING_WORDS if w in text]
    if refund_hits:
        confidence = 0.9 if request.has_order_id else 0.75
        return Classification(
            category="refund",
            confidence=confidence,
            rationale=f"mentions {', '.join(refund_hits)}",
        )
    if shipping_hits:
        return Classification(
            category="shipping",
            confidence=0.85,
            rationale=f"mentions {', '.join(shipping_hits)}",
        )
    words = re.findall(r"[a-z']+", text)
    known = [w for w in words if w in _COMMON_WORDS]
    if len(known) >= 2:
        return Classification(
            category="other", confidence=0.7, rationale="a general question about the account"
        )
    return Classification(
        category="other",
        confidence=0.2,
        rationale="the message could not be understood",
    )


def classify_prompt(request: ClassifyRequest) -> list[BaseMessage]:
    """Prompt for a chat model serving `classify_ticket`."""
    return [
        SystemMessage(
            "You triage customer support tickets for an online shop. Call the Classification "
            "tool with: category = 'refund' (wants money back, item broken, cancel), 'shipping' "
            "(delivery status, tracking, late parcel) or 'other'; confidence between 0 and 1 "
            "(below 0.5 when the message is unclear); rationale = one short sentence."
        ),
        HumanMessage(
            f"Ticket message:\n{request.message}\n\n"
            f"Order id given: {'yes' if request.has_order_id else 'no'}"
        ),
    ]


# --- CRM -----------------------------------------------------------------------------------


@cache
def known_customers() -> list[Customer]:
    """Every demo CRM customer (the review gate uses it to spot other customers' data)."""
    return [Customer.model_validate(c) for c in seed_data()["customers"]]


async def lookup_crm(request: LookupRequest) -> LookupResult:
    """Read the demo CRM tables; report what is missing or inconsistent instead of guessing."""
    db = await run_database()
    customer = await read_customer(db, request.customer_id)
    order = await read_order(db, request.order_id) if request.order_id else None
    problems: list[str] = []
    if customer is None:
        problems.append(f"unknown customer {request.customer_id}")
    if request.order_id and order is None:
        problems.append(f"unknown order {request.order_id}")
    if order is not None and order.customer_id != request.customer_id:
        problems.append(f"order {order.order_id} belongs to another customer")
        order = None
    if request.category == "refund" and not request.order_id:
        problems.append("refund requested without an order id")
    return LookupResult(customer=customer, order=order, problems=problems)


# --- reply drafting ------------------------------------------------------------------------


def draft_offline(request: DraftRequest) -> DraftText:
    """Template reply writer (offline stand-in for a model)."""
    order = f" for order {request.order_id}" if request.order_id else ""
    if request.outcome == "refund":
        body = (
            f"We have approved a refund of {request.amount} {request.currency}{order}. "
            "It will reach your original payment method within 5 business days."
        )
    elif request.outcome == "deny":
        body = (
            f"We are unable to refund{order}: our records show it has already been refunded. "
            "Reply to this message if that does not match what you see."
        )
    elif request.category == "shipping":
        body = (
            f"Your parcel{order} is on its way; you can follow it with the tracking link in "
            "your confirmation e-mail. No refund is due on this ticket."
        )
    else:
        body = (
            "A member of our team has read your message and will follow up if anything else "
            "is needed. No refund is due on this ticket."
        )
    return DraftText(
        text=(
            f"Hello {request.customer_name},\n\n"
            f"Thank you for contacting us about ticket {request.ticket_id}. {body}\n\n"
            f"Kind regards,\n{SIGN_OFF}"
        )
    )


def draft_prompt(request: DraftRequest) -> list[BaseMessage]:
    """Prompt for a chat model serving `draft_reply`."""
    facts = (
        f"ticket: {request.ticket_id}\ncustomer name: {request.customer_name}\n"
        f"category: {request.category}\noutcome: {request.outcome}\n"
        f"amount: {request.amount} {request.currency}\norder: {request.order_id or 'none'}"
    )
    fix = "".join(f"\n- {item}" for item in request.feedback)
    return [
        SystemMessage(
            "You write short, polite replies to customers of an online shop. Call the DraftText "
            "tool with the full reply. The reply must: greet the customer by name; mention "
            "'ticket <id>'; for a refund say exactly 'refund of <amount> <currency>'; for a "
            "denied refund say 'unable to refund'; never mention any other customer, amount or "
            f"e-mail address; end with 'Kind regards,' and '{SIGN_OFF}'."
        ),
        HumanMessage(
            f"Facts:\n{facts}" + (f"\n\nThe last draft failed review:{fix}" if fix else "")
        ),
    ]


registry.register(
    CLASSIFY,
    OfflineProvider(
        name="offline-keyword-classifier",
        version="1",
        description="Deterministic keyword rules; no model, no network.",
        fn=classify_offline,
    ),
    prompt=classify_prompt,
)
registry.register(
    LOOKUP,
    OfflineProvider(
        name="demo-crm",
        version="1",
        description="Reads the demo CRM tables (seeded from nodes/support/crm_data.json).",
        fn=lookup_crm,
    ),
)
registry.register(
    DRAFT,
    OfflineProvider(
        name="offline-template-writer",
        version="1",
        description="Deterministic reply templates; no model, no network.",
        fn=draft_offline,
    ),
    prompt=draft_prompt,
)

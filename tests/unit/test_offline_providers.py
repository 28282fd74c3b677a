"""The offline providers: keyword classifier, demo CRM (never guesses), template writer."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nodes.support.capabilities import (
    CLASSIFY,
    DRAFT,
    LOOKUP,
    ClassifyRequest,
    DraftRequest,
    LookupRequest,
    classify_offline,
    draft_offline,
    lookup_crm,
)
from state.support import Classification, LookupResult
from tests.helpers import DEMO_CASES, run
from waypoint.capabilities import registry
from waypoint.persistence.stores import open_stores


def classify(message: str, has_order_id: bool = True) -> Classification:
    return classify_offline(ClassifyRequest(message=message, has_order_id=has_order_id))


@pytest.mark.parametrize(
    ("message", "has_order", "category", "confidence"),
    [
        ("My mug arrived broken. I would like a refund, please.", True, "refund", 0.9),
        ("My mug arrived broken. I would like a refund, please.", False, "refund", 0.75),
        ("I was charged twice!", True, "refund", 0.9),
        ("Please CANCEL it", True, "refund", 0.9),
        ("Where is my parcel? The tracking page shows nothing.", True, "shipping", 0.85),
        ("The delivery is late", False, "shipping", 0.85),
        ("How do I change my password, please?", False, "other", 0.7),
        ("zxq vrrp ??? klmn", False, "other", 0.2),
        ("", False, "other", 0.2),
    ],
)
def test_keyword_classifier(
    message: str, has_order: bool, category: str, confidence: float
) -> None:
    result = classify(message, has_order)
    assert result.category == category
    assert result.confidence == confidence
    assert result.rationale


def test_refund_words_win_over_shipping_words() -> None:
    result = classify("The parcel was late and arrived damaged, refund please")
    assert result.category == "refund"
    assert "refund" in result.rationale and "damaged" in result.rationale


def test_unintelligible_message_is_below_the_default_gate() -> None:
    assert classify("zxq vrrp ??? klmn", False).confidence < 0.6


def crm(request: LookupRequest, sqlite_url: str) -> LookupResult:
    """`lookup_crm` on a fresh database (its tables seeded with the demo CRM)."""

    async def read() -> LookupResult:
        async with open_stores(sqlite_url):
            return await lookup_crm(request)

    return run(read())


@pytest.mark.parametrize(
    ("customer", "order", "category", "problems"),
    [
        ("C-100", "O-1", "refund", []),
        ("C-100", None, "other", []),
        ("C-999", "O-9", "refund", ["unknown customer C-999", "unknown order O-9"]),
        ("C-100", "O-9", "refund", ["unknown order O-9"]),
        ("C-100", "O-2", "refund", ["order O-2 belongs to another customer"]),
        ("C-100", None, "refund", ["refund requested without an order id"]),
    ],
)
def test_crm_reports_problems_instead_of_guessing(
    customer: str, order: str | None, category: str, problems: list[str], sqlite_url: str
) -> None:
    request = LookupRequest(customer_id=customer, order_id=order, category=category)
    assert crm(request, sqlite_url).problems == problems


def test_crm_never_hands_out_another_customers_order(sqlite_url: str) -> None:
    request = LookupRequest(customer_id="C-100", order_id="O-2", category="refund")
    result = crm(request, sqlite_url)
    assert result.customer is not None and result.customer.customer_id == "C-100"
    assert result.order is None


def test_crm_reads_the_demo_data(sqlite_url: str) -> None:
    request = LookupRequest(customer_id="C-300", order_id="O-3", category="refund")
    result = crm(request, sqlite_url)
    assert result.customer is not None and result.customer.fraud_flag
    assert result.order is not None and result.order.total == Decimal("60.00")
    assert result.order.refunded_amount == Decimal("0.00")


def test_registry_serves_each_capability_offline_with_validated_output() -> None:
    assert {CLASSIFY.name, LOOKUP.name, DRAFT.name} <= set(registry.names())
    assert registry.provider_name(CLASSIFY.name, None) == "offline-keyword-classifier"
    assert registry.provider_name(CLASSIFY.name, "fake:model") == "chat:fake:model"
    assert registry.provider_name(LOOKUP.name, "fake:model") == "demo-crm"  # no prompt: always CRM
    found = run(
        registry.call(
            LOOKUP.name,
            LookupRequest(customer_id="C-100", order_id="O-1", category="refund"),
            model="fake:model",
        )
    )
    assert isinstance(found, LookupResult) and found.order is not None


def test_registry_refuses_the_wrong_request_type() -> None:
    with pytest.raises(TypeError, match="ClassifyRequest"):
        run(
            registry.call(
                CLASSIFY.name, LookupRequest(customer_id="C", order_id=None, category="other")
            )
        )


def test_every_demo_ticket_classifies_as_its_case_expects() -> None:
    seen = {
        case["case"]: classify(case["input"]["message"], bool(case["input"]["order_id"]))
        for case in DEMO_CASES
    }
    assert seen["auto refund"].category == "refund"
    assert seen["shipping question"].category == "shipping"
    assert seen["unintelligible message"].confidence < 0.6


def test_template_writer_states_the_decision() -> None:
    request = DraftRequest(
        ticket_id="T-1",
        customer_name="Grace Hopper",
        category="refund",
        outcome="refund",
        amount=Decimal("480.00"),
        currency="USD",
        order_id="O-2",
        attempt=1,
    )
    text = draft_offline(request).text
    assert text.startswith("Hello Grace Hopper,")
    assert "ticket T-1" in text and "refund of 480.00 USD for order O-2" in text
    assert text.endswith("Kind regards,\nWaypoint Support")

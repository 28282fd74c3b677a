"""The refund policy (`nodes.support.decide.refund_policy`): thresholds, fraud flag, no guessing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nodes.support.decide import refund_policy
from state.support import Classification, Customer, LookupResult, Order, SupportState

THRESHOLD = Decimal("100.00")


def state(
    total: str = "25.00",
    *,
    category: str = "refund",
    fraud: bool = False,
    status: str = "delivered",
    with_order: bool = True,
) -> SupportState:
    customer = Customer(
        customer_id="C-1", name="Ada Lovelace", email="ada@example.com", fraud_flag=fraud
    )
    order = Order.model_validate(
        {"order_id": "O-1", "customer_id": "C-1", "total": total, "status": status}
    )
    return SupportState.model_validate(
        {
            "ticket_id": "T-1",
            "customer_id": "C-1",
            "order_id": "O-1" if with_order else None,
            "message": "refund please",
            "classification": Classification.model_validate(
                {"category": category, "confidence": 0.9, "rationale": "test"}
            ).model_dump(),
            "lookup": LookupResult(customer=customer, order=order if with_order else None),
        }
    )


def test_small_refund_goes_through_without_a_human() -> None:
    decision = refund_policy(state("25.00"), THRESHOLD)
    assert decision.outcome == "refund"
    assert decision.amount == Decimal("25.00")
    assert decision.currency == "USD"
    assert decision.rule == "full refund of the order total"
    assert not decision.needs_approval
    assert decision.approval_reasons == []


@pytest.mark.parametrize(
    ("total", "needs_human"),
    [("99.99", False), ("100.00", False), ("100.01", True), ("480.00", True)],
)
def test_threshold_is_strictly_above(total: str, needs_human: bool) -> None:
    decision = refund_policy(state(total), THRESHOLD)
    assert decision.outcome == "refund"
    assert decision.amount == Decimal(total)
    assert decision.needs_approval is needs_human
    if needs_human:
        assert decision.approval_reasons == [f"amount {total} above the approval threshold 100.00"]


def test_threshold_comes_from_the_run() -> None:
    assert refund_policy(state("25.00"), Decimal("10.00")).needs_approval
    assert not refund_policy(state("480.00"), Decimal("500.00")).needs_approval
    everything = refund_policy(state("0.01"), Decimal("0"))
    assert everything.approval_reasons == ["amount 0.01 above the approval threshold 0"]


def test_fraud_flag_needs_a_human_whatever_the_amount() -> None:
    decision = refund_policy(state("5.00", fraud=True), THRESHOLD)
    assert decision.outcome == "refund"
    assert decision.needs_approval
    assert decision.approval_reasons == ["customer is fraud-flagged"]


def test_big_refund_to_flagged_customer_gives_both_reasons() -> None:
    decision = refund_policy(state("480.00", fraud=True), THRESHOLD)
    assert decision.approval_reasons == [
        "amount 480.00 above the approval threshold 100.00",
        "customer is fraud-flagged",
    ]


def test_already_refunded_order_is_denied() -> None:
    decision = refund_policy(state("90.00", status="refunded"), THRESHOLD)
    assert decision.outcome == "deny"
    assert decision.amount == Decimal("0.00")
    assert decision.rule == "order already refunded"
    assert not decision.needs_approval


@pytest.mark.parametrize("category", ["shipping", "other"])
def test_no_refund_unless_one_is_asked_for(category: str) -> None:
    decision = refund_policy(state("480.00", category=category, fraud=True), THRESHOLD)
    assert decision.outcome == "no_refund"
    assert decision.amount == Decimal("0.00")
    assert decision.rule == f"no refund requested ({category})"
    assert not decision.needs_approval


def test_no_refund_without_an_order() -> None:
    decision = refund_policy(state(with_order=False), THRESHOLD)
    assert decision.outcome == "no_refund"
    assert decision.amount == Decimal("0.00")

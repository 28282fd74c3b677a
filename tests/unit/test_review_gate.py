"""The review gate (`nodes.support.gates.review_checks`) catches every way a draft can be wrong."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nodes.support.capabilities import DraftRequest, draft_offline
from nodes.support.gates import review_checks
from state.support import Draft, RefundDecision

REFUND = RefundDecision(outcome="refund", amount=Decimal("25.00"), rule="full refund")
NO_REFUND = RefundDecision(outcome="no_refund", rule="no refund requested (shipping)")
DENY = RefundDecision(outcome="deny", rule="order already refunded")

GOOD_REFUND = (
    "Hello Ada Lovelace,\n\nThank you for contacting us about ticket T-1001. We have approved a "
    "refund of 25.00 USD for order O-1.\n\nKind regards,\nWaypoint Support"
)
GOOD_REPLY = (
    "Hello Ada Lovelace,\n\nThank you for contacting us about ticket T-1005. Your parcel is on "
    "its way.\n\nKind regards,\nWaypoint Support"
)


def check(text: str, decision: RefundDecision = REFUND, ticket: str = "T-1001") -> list[str]:
    return review_checks(Draft(text=text, attempt=1), decision, ticket, "C-100", "ada@example.com")


def test_a_correct_refund_draft_passes() -> None:
    assert check(GOOD_REFUND) == []


def test_a_correct_no_refund_draft_passes() -> None:
    assert check(GOOD_REPLY, NO_REFUND, ticket="T-1005") == []


@pytest.mark.parametrize(
    ("outcome", "amount", "category"),
    [
        ("refund", "25.00", "refund"),
        ("refund", "480.00", "refund"),
        ("no_refund", "0.00", "shipping"),
        ("no_refund", "0.00", "other"),
        ("deny", "0.00", "refund"),
    ],
)
def test_the_offline_writer_always_passes_review(outcome: str, amount: str, category: str) -> None:
    decision = RefundDecision.model_validate({"outcome": outcome, "amount": amount, "rule": "test"})
    request = DraftRequest.model_validate(
        {
            "ticket_id": "T-9",
            "customer_name": "Ada Lovelace",
            "category": category,
            "outcome": outcome,
            "amount": amount,
            "currency": "USD",
            "order_id": "O-1",
            "attempt": 1,
        }
    )
    text = draft_offline(request).text
    assert (
        review_checks(Draft(text=text, attempt=1), decision, "T-9", "C-100", "ada@example.com")
        == []
    )


def test_wrong_amount_is_caught() -> None:
    problems = check(GOOD_REFUND.replace("25.00", "250.00"))
    assert "must say 'refund of 25.00 USD'" in problems
    assert "mentions other amounts: 250.00" in problems


def test_a_second_amount_beside_the_right_one_is_caught() -> None:
    problems = check(GOOD_REFUND.replace("O-1.", "O-1 (you paid 30.00)."))
    assert problems == ["mentions other amounts: 25.00, 30.00"]


def test_wrong_currency_is_caught() -> None:
    assert check(GOOD_REFUND.replace("25.00 USD", "25.00 EUR")) == [
        "must say 'refund of 25.00 USD'"
    ]


def test_missing_ticket_reference_is_caught() -> None:
    problems = check(GOOD_REFUND.replace("ticket T-1001", "your message"))
    assert problems == ["must mention 'ticket T-1001'"]


def test_wrong_ticket_reference_is_caught() -> None:
    assert check(GOOD_REFUND.replace("T-1001", "T-1002")) == ["must mention 'ticket T-1001'"]


def test_missing_sign_off_is_caught() -> None:
    problems = check(GOOD_REFUND.replace("Waypoint Support", "The team"))
    assert problems == ["must end with the sign-off 'Waypoint Support'"]


@pytest.mark.parametrize(
    ("leak", "shown"),
    [
        ("Your account C-200 is noted.", "C-200"),
        ("Unlike customer C-777, you qualify.", "C-777"),  # not in the CRM: still someone else's
        ("We copied grace@example.com.", "grace@example.com"),
        ("Grace Hopper had the same problem.", "Grace Hopper"),
        ("Mallory Jones sends her regards.", "Mallory Jones"),
    ],
)
def test_another_customers_data_is_caught(leak: str, shown: str) -> None:
    problems = check(GOOD_REFUND.replace("Kind regards", f"{leak}\n\nKind regards"))
    assert len(problems) == 1
    assert problems[0].startswith("contains another customer's data: ")
    assert shown in problems[0]


def test_the_customers_own_id_and_email_are_fine() -> None:
    text = GOOD_REFUND.replace(
        "Kind regards", "Account C-100, receipt sent to ada@example.com today.\n\nKind regards"
    )
    assert check(text) == []


def test_the_customers_own_email_ending_a_sentence_is_fine() -> None:
    text = GOOD_REFUND.replace(
        "Kind regards", "We sent the receipt to ada@example.com.\n\nKind regards"
    )
    assert check(text) == []


def test_promising_a_refund_when_none_is_due_is_caught() -> None:
    text = GOOD_REPLY.replace("Your parcel is on its way.", "We will send a refund of 35.50 USD.")
    problems = check(text, NO_REFUND, ticket="T-1005")
    assert "promises a refund, but the decision is no refund" in problems
    assert "mentions amounts with no refund due: 35.50" in problems


def test_a_denied_refund_must_say_so() -> None:
    problems = check(GOOD_REPLY, DENY, ticket="T-1005")
    assert problems == ["must say 'unable to refund'"]
    fixed = GOOD_REPLY.replace("Your parcel is on its way.", "We are unable to refund this order.")
    assert check(fixed, DENY, ticket="T-1005") == []


def test_every_problem_is_reported_at_once() -> None:
    text = "Hi Grace Hopper, here is a refund of 99.99 USD."
    problems = check(text)
    assert len(problems) == 5
    assert problems[0] == "must mention 'ticket T-1001'"
    assert problems[1] == "must end with the sign-off 'Waypoint Support'"

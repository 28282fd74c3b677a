"""HITL answers are validated against the request they answer; every refusal names its field."""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents.middleware.human_in_the_loop import HITLRequest

from waypoint.errors import BadInput
from waypoint.hitl import build_request, check_edit, parse_response

AMOUNT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reply": {"type": "string", "minLength": 1},
        "amount": {"type": "number", "minimum": 0.01, "maximum": 480.0},
    },
}
TRIAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"category": {"type": "string", "enum": ["refund", "shipping", "other"]}},
    "required": ["category"],
}


def refund_request(allowed: list[Any] | None = None) -> HITLRequest:
    return build_request(
        action="issue_refund",
        args={"amount": "480.00", "reply": "Hello"},
        description="Refund 480.00 USD",
        allowed=allowed or ["approve", "edit", "reject", "respond"],
        args_schema=AMOUNT_SCHEMA,
    )


def edit(args: Any, name: str = "issue_refund") -> dict[str, Any]:
    return {"decisions": [{"type": "edit", "edited_action": {"name": name, "args": args}}]}


def test_build_request_is_an_hitl_request() -> None:
    request = refund_request(["edit", "reject"])
    assert request["action_requests"] == [
        {
            "name": "issue_refund",
            "args": {"amount": "480.00", "reply": "Hello"},
            "description": "Refund 480.00 USD",
        }
    ]
    assert request["review_configs"] == [
        {
            "action_name": "issue_refund",
            "allowed_decisions": ["edit", "reject"],
            "args_schema": AMOUNT_SCHEMA,
        }
    ]


def test_valid_answers_are_parsed() -> None:
    request = refund_request()
    assert parse_response({"decisions": [{"type": "approve"}]}, request).type == "approve"
    rejected = parse_response(
        {"decisions": [{"type": "reject", "message": "  too much  "}]}, request
    )
    assert (rejected.type, rejected.message) == ("reject", "too much")
    responded = parse_response({"decisions": [{"type": "respond", "message": "Call us"}]}, request)
    assert (responded.type, responded.message) == ("respond", "Call us")
    edited = parse_response(edit({"amount": 200}), request)
    assert edited.type == "edit"
    assert edited.edited_args == {"amount": "200.00"}  # normalised to cents, as text


@pytest.mark.parametrize(
    ("answer", "field", "words"),
    [
        ("approve", "decisions", "HITLResponse"),
        ({"decision": [{"type": "approve"}]}, "decisions", "HITLResponse"),
        ({"decisions": {"type": "approve"}}, "decisions", "1 decision(s)"),
        ({"decisions": []}, "decisions", "1 decision(s)"),
        ({"decisions": [{"type": "approve"}, {"type": "approve"}]}, "decisions", "1 decision(s)"),
        ({"decisions": ["approve"]}, "decisions[0].type", "got None"),
        ({"decisions": [{"type": "accept"}]}, "decisions[0].type", "'accept'"),
        ({"decisions": [{"type": "respond"}]}, "decisions[0].message", "reply text"),
        ({"decisions": [{"type": "respond", "message": "   "}]}, "decisions[0].message", "reply"),
        ({"decisions": [{"type": "reject", "message": 5}]}, "decisions[0].message", "text"),
        ({"decisions": [{"type": "edit"}]}, "decisions[0].edited_action", "issue_refund"),
        (edit({"amount": 1}, name="send_reply"), "decisions[0].edited_action", "issue_refund"),
        (edit([1]), "edited_action.args", "object"),
        (edit({"amount": "lots"}), "edited_action.args.amount", "expected a number"),
        (edit({"amount": "NaN"}), "edited_action.args.amount", "finite"),
        (edit({"amount": "Infinity"}), "edited_action.args.amount", "finite"),
        (edit({"amount": "480.01"}), "edited_action.args.amount", "at most 480.0"),
        (edit({"amount": 0}), "edited_action.args.amount", "at least 0.01"),
        (edit({"amount": "-5"}), "edited_action.args.amount", "at least"),
        (edit({"reply": ""}), "edited_action.args.reply", "non-empty"),
        (edit({"reply": 42}), "edited_action.args.reply", "non-empty"),
        (edit({"discount": 5}), "edited_action.args.discount", "editable: amount, reply"),
    ],
)
def test_refused_answers_name_the_field(answer: Any, field: str, words: str) -> None:
    with pytest.raises(BadInput) as refused:
        parse_response(answer, refund_request())
    assert refused.value.field == field
    assert field.rsplit(".", 1)[-1] in str(refused.value)
    assert words in str(refused.value)
    assert refused.value.exit_code == 2


def test_decision_not_allowed_by_the_review_config_is_refused() -> None:
    request = refund_request(["edit", "reject", "respond"])
    with pytest.raises(BadInput) as refused:
        parse_response({"decisions": [{"type": "approve"}]}, request)
    assert refused.value.field == "decisions[0].type"
    assert "expected one of edit, reject, respond, got 'approve'" in str(refused.value)


def test_check_edit_enforces_enum_and_required() -> None:
    assert check_edit({"category": "refund"}, TRIAGE_SCHEMA) == {"category": "refund"}
    with pytest.raises(BadInput) as bad_enum:
        check_edit({"category": "banana"}, TRIAGE_SCHEMA)
    assert bad_enum.value.field == "edited_action.args.category"
    assert "refund, shipping, other" in str(bad_enum.value)
    with pytest.raises(BadInput) as missing:
        check_edit({}, TRIAGE_SCHEMA)
    assert missing.value.field == "edited_action.args.category"
    assert "required" in str(missing.value)


def test_check_edit_without_schema_takes_any_object() -> None:
    assert check_edit({"x": 1}, None) == {"x": 1}
    with pytest.raises(BadInput) as refused:
        check_edit("x=1", None)
    assert refused.value.field == "edited_action.args"


def test_amounts_are_quantized_to_cents() -> None:
    assert check_edit({"amount": "0.014"}, AMOUNT_SCHEMA) == {"amount": "0.01"}
    assert check_edit({"amount": 199.999}, AMOUNT_SCHEMA) == {"amount": "200.00"}
    assert check_edit({"amount": "480"}, AMOUNT_SCHEMA) == {"amount": "480.00"}

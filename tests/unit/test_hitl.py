"""HITL answers are validated against the request they answer; every refusal names its field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

import pytest
from langchain.agents.middleware.human_in_the_loop import HITLRequest
from pydantic import BaseModel, Field

from waypoint.errors import BadInput
from waypoint.hitl import HumanDecision, build_request, check_edit, parse_response

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


class RefundEdit(BaseModel):
    """An edit of a refund, as a workflow would declare it."""

    amount: Decimal | None = Field(default=None, gt=0, le=Decimal("480.00"))
    reply: str | None = Field(default=None, min_length=1)
    items: int = Field(default=1, ge=1, le=5)
    channel: Literal["email", "phone"] = "email"


def model_request() -> HITLRequest:
    return build_request(
        action="issue_refund",
        args={"amount": "480.00", "reply": "Hello"},
        description="Refund 480.00 USD",
        allowed=["edit"],
        args_schema=RefundEdit,
    )


def test_a_pydantic_model_gives_the_schema_and_reads_the_answer_back_typed() -> None:
    request = model_request()
    assert request["review_configs"][0]["args_schema"] == RefundEdit.model_json_schema()
    decision = parse_response(edit({"amount": "49.9", "items": "2", "channel": "phone"}), request)
    assert decision.edited_args == {"amount": "49.9", "items": 2, "channel": "phone"}
    assert decision.edits(RefundEdit) == RefundEdit(
        amount=Decimal("49.9"), items=2, channel="phone"
    )


def test_every_problem_of_an_edit_is_named_at_once() -> None:
    with pytest.raises(BadInput) as refused:
        parse_response(edit({"amount": "0", "items": 9, "channel": "fax"}), model_request())
    said = str(refused.value)
    assert refused.value.field == "edited_action.args.amount"
    assert "edited_action.args.amount: must be above 0" in said
    assert "edited_action.args.items: must be at most 5" in said
    assert "edited_action.args.channel: expected one of email, phone" in said


@pytest.mark.parametrize(
    ("args", "field", "words"),
    [
        ({"amount": "1e3"}, "edited_action.args.amount", "plain decimal"),
        ({"amount": "480.01"}, "edited_action.args.amount", "at most 480"),
        ({"items": 2.5}, "edited_action.args.items", "not of type 'integer'"),
        ({"reply": "  "}, "edited_action.args.reply", "non-empty"),
        ({"colour": "red"}, "edited_action.args.colour", "editable: amount, channel"),
    ],
)
def test_a_model_edit_is_refused_naming_the_field(args: Any, field: str, words: str) -> None:
    with pytest.raises(BadInput) as refused:
        parse_response(edit(args), model_request())
    assert refused.value.field == field and words in str(refused.value)


def test_edits_refuses_what_only_the_model_knows() -> None:
    class Strict(BaseModel):
        code: str = Field(pattern=r"^[A-Z]{3}$")

    decision = HumanDecision(type="edit", edited_args={"code": "abc"})
    with pytest.raises(BadInput) as refused:
        decision.edits(Strict)
    assert refused.value.field == "edited_action.args.code"

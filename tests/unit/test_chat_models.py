"""Structured answers from chat models: tool calls first, then JSON text; anything else refused."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.messages.tool import tool_call

from nodes.support.capabilities import CLASSIFY
from state.support import Classification
from tests.helpers import ToolCallingFakeModel, classification, run, tool_answer
from waypoint.capabilities import CapabilityContractError, validate_output
from waypoint.chat_models import (
    StructuredOutputError,
    ask_for_structured,
    default_chat_model_factory,
    parse_structured,
)


def test_tool_call_args_are_the_answer() -> None:
    message = tool_answer(
        "Classification", {"category": "refund", "confidence": 0.8, "rationale": "r"}
    )
    assert parse_structured(message, "Classification") == {
        "category": "refund",
        "confidence": 0.8,
        "rationale": "r",
    }


def test_the_named_tool_call_is_picked_among_several() -> None:
    message = AIMessage(
        content='thinking out loud {"category": "other"}',
        tool_calls=[
            tool_call(name="search", args={"q": "mug"}, id="a"),
            tool_call(name="Classification", args={"category": "shipping"}, id="b"),
        ],
    )
    assert parse_structured(message, "Classification") == {"category": "shipping"}


def test_json_text_is_accepted_when_there_is_no_tool_call() -> None:
    message = AIMessage(
        content='Sure! Here it is:\n```json\n{"category": "refund", "confidence": 0.7, '
        '"rationale": "broken mug"}\n```'
    )
    assert parse_structured(message, "Classification") == {
        "category": "refund",
        "confidence": 0.7,
        "rationale": "broken mug",
    }


def test_json_text_is_used_when_only_other_tools_were_called() -> None:
    message = AIMessage(
        content='{"text": "Hello"}', tool_calls=[tool_call(name="other", args={}, id="x")]
    )
    assert parse_structured(message, "DraftText") == {"text": "Hello"}


def test_content_blocks_are_read_as_text() -> None:
    message = AIMessage(content=[{"type": "text", "text": '{"text": "Hello"}'}])
    assert parse_structured(message, "DraftText") == {"text": "Hello"}


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("I think it is a refund.", "expected a 'Classification' tool call or a JSON object"),
        ("", "expected a 'Classification' tool call"),
        ('{"category": "refund", "confidence": }', "malformed JSON"),
        ("{category: refund}", "malformed JSON"),
    ],
)
def test_malformed_output_is_refused(content: str, words: str) -> None:
    with pytest.raises(StructuredOutputError) as refused:
        parse_structured(AIMessage(content=content), "Classification")
    assert words in str(refused.value)


def test_ask_for_structured_binds_the_output_model_as_the_only_tool() -> None:
    """Through the model's `with_structured_output`: its one tool, a call forced ("any")."""
    model = ToolCallingFakeModel(messages=iter([classification("shipping", 0.66, "parcel")]))
    prompt: list[BaseMessage] = [HumanMessage("Where is my parcel?")]
    answer, usage = run(ask_for_structured(model, prompt, Classification))
    assert answer == {"category": "shipping", "confidence": 0.66, "rationale": "parcel"}
    assert usage.total == 0  # the scripted answer reports no usage
    assert model.bound_tools == [Classification]
    assert model.tool_choices == ["any"]
    assert model.prompts == [prompt]


def test_an_answer_outside_the_model_reaches_the_contract_check_as_it_was() -> None:
    """The structured-output parser refuses confidence 7; the raw arguments are kept, so the
    capability's contract check (not a parser) says which field is wrong."""
    model = ToolCallingFakeModel(messages=iter([classification("refund", 7, "sure")]))
    answer, _ = run(ask_for_structured(model, [HumanMessage("Refund me")], Classification))
    assert answer == {"category": "refund", "confidence": 7, "rationale": "sure"}
    with pytest.raises(CapabilityContractError, match="confidence"):
        validate_output(CLASSIFY, "chat:x", answer)


def test_a_json_object_in_the_text_is_read_when_no_tool_was_called() -> None:
    text = 'Here it is: {"category": "other", "confidence": 0.5, "rationale": "r"}'
    model = ToolCallingFakeModel(messages=iter([text]))
    answer, _ = run(ask_for_structured(model, [HumanMessage("?")], Classification))
    assert answer == {"category": "other", "confidence": 0.5, "rationale": "r"}


def test_ask_for_structured_refuses_prose() -> None:
    model = ToolCallingFakeModel(messages=iter(["It is about shipping."]))
    with pytest.raises(StructuredOutputError, match="tool call or a JSON object"):
        run(ask_for_structured(model, [HumanMessage("?")], Classification))


def test_output_contract_is_enforced() -> None:
    assert validate_output(CLASSIFY, "p", {"category": "other", "confidence": 1, "rationale": "r"})
    with pytest.raises(CapabilityContractError) as broken:
        validate_output(
            CLASSIFY, "chat:x", {"category": "refund", "confidence": 7, "rationale": "r"}
        )
    assert "'classify_ticket'" in str(broken.value) and "confidence" in str(broken.value)
    assert (broken.value.capability, broken.value.provider) == ("classify_ticket", "chat:x")
    with pytest.raises(CapabilityContractError, match="category"):
        validate_output(
            CLASSIFY, "p", {"category": "complaint", "confidence": 0.5, "rationale": "r"}
        )


def test_model_setting_must_name_a_provider() -> None:
    with pytest.raises(ValueError, match="provider:model"):
        default_chat_model_factory("gpt")

"""Ask a chat model for a structured answer: `with_structured_output`, a tool call.

Real models are reached through `init_chat_model("provider:model")`. The answer is what the
model's structured-output parser read from its tool call, or else the first tool call named
after the output model, or else a JSON object in the message text, so models with and
without native tool calling both work. Parsing failures raise `StructuredOutputError`.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel

from waypoint.pricing import ModelUsage, usage_of

ChatModelFactory = Callable[[str], BaseChatModel]

_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


CAPABILITY_TAG = "waypoint:capability"
"""Tag of the model calls a `Capability` makes: it guards and counts them itself, so the
kit's direct-call guard (`waypoint.model_guard`) leaves them alone."""


class StructuredOutputError(ValueError):
    """The model answered, but not with a parsable structured answer."""


def default_chat_model_factory(spec: str) -> BaseChatModel:
    """`provider:model` → a chat model via `init_chat_model` (needs that provider's package)."""
    from langchain.chat_models import init_chat_model

    if ":" not in spec:
        raise ValueError(f"model setting must be 'provider:model', got {spec!r}")
    return init_chat_model(spec, temperature=0)


def check_chat_model_spec(spec: str) -> None:
    """Check, without calling anyone, that `default_chat_model_factory` can build `spec` here.

    `spec` must be `provider:model` with a provider `init_chat_model` knows, whose integration
    package is installed.

    Raises:
        ValueError: saying what is wrong and what to do.
    """
    provider, sep, model = spec.partition(":")
    if not sep or not provider.strip() or not model.strip():
        raise ValueError(
            f"expected 'provider:model' (e.g. 'openai:gpt-4.1-mini'), got {spec[:80]!r}"
        )
    from langchain.chat_models import base

    known: dict[str, tuple[str, ...]] | None = getattr(base, "_BUILTIN_PROVIDERS", None)
    if known is None:  # LangChain moved its table: the first call reports a bad model
        return
    key = provider.replace("-", "_").lower()
    if key not in known:
        raise ValueError(
            f"unknown provider {provider[:80]!r}; init_chat_model knows {', '.join(sorted(known))}"
        )
    module = str(known[key][0]).split(".", maxsplit=1)[0]
    if importlib.util.find_spec(module) is None:
        package = module.replace("_", "-")
        raise ValueError(
            f"provider {key!r} needs the package {package}, which is not installed; "
            f"install it (`uv pip install {package}`) and set its API key"
        )


def parse_structured(message: AIMessage, tool_name: str) -> dict[str, Any]:
    """Extract the structured answer from a model message."""
    for call in message.tool_calls:
        if call["name"] == tool_name:
            return dict(call["args"])
    text = message.text if isinstance(message.text, str) else str(message.content)
    match = _JSON_OBJECT.search(text)
    if match is None:
        raise StructuredOutputError(
            f"expected a {tool_name!r} tool call or a JSON object, got: {text[:200]!r}"
        )
    try:
        parsed = json.loads(match.group(0))
    except json.JSONDecodeError as exc:
        raise StructuredOutputError(f"model answered malformed JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise StructuredOutputError("model answered JSON that is not an object")
    return parsed


async def ask_for_structured(
    model: BaseChatModel, messages: list[BaseMessage], output_model: type[BaseModel]
) -> tuple[dict[str, Any], ModelUsage]:
    """Ask through the model's own `with_structured_output` (a tool call), keep the raw answer.

    The provider's integration decides how the tool call is forced. An answer its parser
    cannot read (no tool call, arguments that do not fit the model) is read again by
    `parse_structured` from the raw message, so a JSON object in the text still counts and
    the capability's contract check names what is wrong.

    Returns:
        The parsed arguments and the tokens the model reported (zeros if it reported none).
    """
    structured = model.with_structured_output(
        output_model, method="function_calling", include_raw=True
    )
    # tagged: the capability guards and counts this call itself (`waypoint.model_guard`)
    result = await structured.ainvoke(messages, config={"tags": [CAPABILITY_TAG]})
    if not isinstance(result, dict):  # include_raw: always a dict
        raise StructuredOutputError(f"expected the raw answer too, got {type(result).__name__}")
    answer = result.get("raw")
    if not isinstance(answer, AIMessage):
        raise StructuredOutputError(f"expected an AIMessage, got {type(answer).__name__}")
    usage = usage_of(dict(answer.usage_metadata) if answer.usage_metadata else None)
    parsed = result.get("parsed")
    if isinstance(parsed, BaseModel):
        return parsed.model_dump(mode="json"), usage
    return parse_structured(answer, output_model.__name__), usage

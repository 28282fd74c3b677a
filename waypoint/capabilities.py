"""Capability registry: nodes ask for a capability by name; configuration picks the provider.

A capability is a contract (pydantic input and output models). A provider serves it: an offline
deterministic provider (always present, so every graph runs with no key and no network) and,
for capabilities with a prompt, a chat model reached through `init_chat_model` when a
`provider:model` setting is given. Whatever a provider returns is validated against the
capability's output contract before it can enter the state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langgraph.config import get_config
from pydantic import BaseModel, ValidationError

from waypoint.chat_models import ChatModelFactory, ask_for_structured, default_chat_model_factory

InT = TypeVar("InT", bound=BaseModel)
OutT = TypeVar("OutT", bound=BaseModel)


class CapabilityContractError(Exception):
    """A provider's output does not satisfy its capability's output contract."""

    def __init__(self, capability: str, provider: str, detail: str) -> None:
        """Say which capability and provider broke the contract, and how."""
        super().__init__(
            f"provider {provider!r} broke the output contract of capability "
            f"{capability!r}: {detail}"
        )
        self.capability = capability
        self.provider = provider


class UnknownCapability(KeyError):
    """No capability of that name is registered."""


@dataclass(frozen=True)
class Capability(Generic[InT, OutT]):
    """A named contract: what goes in, what must come out."""

    name: str
    description: str
    input_model: type[InT]
    output_model: type[OutT]


@dataclass(frozen=True)
class OfflineProvider(Generic[InT, OutT]):
    """A deterministic provider that needs no network; documented as such in `description`."""

    name: str
    version: str
    description: str
    fn: Callable[[InT], OutT | Awaitable[OutT]]

    async def ainvoke(self, request: InT) -> Any:
        """Run the function (awaiting it when it is async)."""
        result = self.fn(request)
        if isinstance(result, Awaitable):
            return await result
        return result


PromptBuilder = Callable[[Any], list[BaseMessage]]


@dataclass
class _Entry:
    capability: Capability[Any, Any]
    offline: OfflineProvider[Any, Any]
    prompt: PromptBuilder | None = None


@dataclass
class CapabilityRegistry:
    """Capabilities by name, their providers, and the chat model factory."""

    chat_model_factory: ChatModelFactory = default_chat_model_factory
    usd_per_1k_tokens: dict[str, Decimal] = field(default_factory=dict)
    """Price of each `provider:model` (USD per 1,000 tokens); unknown models cost 0."""
    _entries: dict[str, _Entry] = field(default_factory=dict)

    def register(
        self,
        capability: Capability[InT, OutT],
        offline: OfflineProvider[InT, OutT],
        *,
        prompt: PromptBuilder | None = None,
    ) -> None:
        """Register a capability with its offline provider and, optionally, a model prompt."""
        self._entries[capability.name] = _Entry(capability, offline, prompt)

    def capability(self, name: str) -> Capability[Any, Any]:
        """Look up a capability by name."""
        try:
            return self._entries[name].capability
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownCapability(f"unknown capability {name!r}; registered: {known}") from None

    def names(self) -> list[str]:
        """Registered capability names."""
        return sorted(self._entries)

    def provider_name(self, name: str, model: str | None) -> str:
        """Which provider would serve `name` with this model setting."""
        entry = self._entries[name]
        if model and entry.prompt is not None:
            return f"chat:{model}"
        return entry.offline.name

    async def call(self, name: str, request: BaseModel, *, model: str | None = None) -> Any:
        """Serve `request` with the configured provider and return the validated output.

        Args:
            name: capability name.
            request: an instance of the capability's input model.
            model: `provider:model` for capabilities with a prompt; None means offline.

        Raises:
            CapabilityContractError: the provider's output fails the output contract.
        """
        self.capability(name)
        entry = self._entries[name]
        cap = entry.capability
        if not isinstance(request, cap.input_model):
            raise TypeError(f"{name} expects {cap.input_model.__name__}, got {type(request)}")
        tokens = 0
        if model and entry.prompt is not None:
            chat: BaseChatModel = self.chat_model_factory(model)
            provider, version, reason = f"chat:{model}", model, "model setting in run context"
            raw, tokens = await ask_for_structured(chat, entry.prompt(request), cap.output_model)
        else:
            provider, version = entry.offline.name, entry.offline.version
            reason = "offline provider (no model configured)"
            raw = await entry.offline.ainvoke(request)
        price = self.usd_per_1k_tokens.get(model or "", Decimal("0"))
        cost = (price * tokens / 1000).quantize(Decimal("0.000001"))
        report_call(name, provider, version, reason, tokens, cost)
        return validate_output(cap, provider, raw)


def report_call(
    capability: str, provider: str, version: str, reason: str, tokens: int, cost: Decimal
) -> None:
    """Tell the run's ledger and guard about a capability call (no-op outside a runner run)."""
    from waypoint.ledger import current_recorder

    recorder = current_recorder()
    if recorder is None:
        return
    metadata = get_config().get("metadata", {})
    recorder.on_capability_call(
        str(metadata.get("langgraph_node", "?")),
        int(metadata.get("langgraph_step", -1)),
        capability=capability,
        provider=provider,
        version=version,
        routing_reason=reason,
        tokens=tokens,
        cost=cost,
    )


def validate_output(capability: Capability[Any, OutT], provider: str, raw: Any) -> OutT:
    """Check a provider's answer against the output contract."""
    try:
        if isinstance(raw, capability.output_model):
            return capability.output_model.model_validate(raw.model_dump())
        return capability.output_model.model_validate(raw)
    except ValidationError as exc:
        raise CapabilityContractError(capability.name, provider, str(exc)) from exc


registry = CapabilityRegistry()
"""The process-wide registry; workflows register their capabilities into it at import."""

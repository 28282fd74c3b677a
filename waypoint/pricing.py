"""What a model call costs, and the most it may cost, from a maintained price table.

Prices come from pydantic's `genai-prices` (per model: input, output and cached tokens), looked
up by the `provider:model` setting; a workflow's own `usd_per_1k_tokens` table wins when it
names the model. Offline providers cost 0 (they call no one). A model no table knows has no
price: its calls are recorded at 0 and marked unpriced, and a run with a cost budget refuses to
call it, since the budget could not be kept.

Before a call, the worst case is the prompt's tokens (estimated from its length, rounded up)
plus the model's `max_tokens` (or `DEFAULT_MAX_OUTPUT_TOKENS` when the model sets none), at
that price: the guard refuses a call whose worst case would cross the run's token or cost budget
(`waypoint.guards.RunGuard.before_model_call`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

DEFAULT_MAX_OUTPUT_TOKENS = 4096
"""The output a model that sets no `max_tokens` is assumed to be able to write, at worst."""

_CHARS_PER_TOKEN = 3
"""A pessimistic characters-per-token ratio for the prompt estimate (English runs near 4)."""

_OUTPUT_LIMIT_NAMES = ("max_tokens", "max_output_tokens", "max_completion_tokens", "num_predict")

MICRO = Decimal("0.000001")


@dataclass(frozen=True)
class ModelUsage:
    """Tokens a model reported for one call."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total(self) -> int:
        """Input and output tokens."""
        return self.input_tokens + self.output_tokens


def usage_of(metadata: Mapping[str, Any] | None) -> ModelUsage:
    """LangChain's `usage_metadata` of a message as a `ModelUsage` (zeros when absent)."""
    if not metadata:
        return ModelUsage()
    details = metadata.get("input_token_details") or {}
    return ModelUsage(
        input_tokens=int(metadata.get("input_tokens") or 0),
        output_tokens=int(metadata.get("output_tokens") or 0),
        cached_tokens=int(details.get("cache_read") or 0),
    )


def price(
    spec: str, usage: ModelUsage, table: Mapping[str, Decimal] | None = None
) -> Decimal | None:
    """The cost in USD of `usage` on `spec` (`provider:model`); None when no table knows it."""
    if table and spec in table:
        return (table[spec] * usage.total / 1000).quantize(MICRO)
    from genai_prices import Usage, calc_price

    provider, _, model = spec.partition(":")
    tokens = Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cached_tokens or None,
    )
    for provider_id in (provider or None, None):
        try:
            found = calc_price(tokens, model_ref=model or spec, provider_id=provider_id)
        except LookupError:
            continue
        return Decimal(str(found.total_price)).quantize(MICRO)
    return None


def max_output_tokens(model: Any) -> int:
    """The most a chat model may write in one answer, as it is configured."""
    for name in _OUTPUT_LIMIT_NAMES:
        value = getattr(model, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return DEFAULT_MAX_OUTPUT_TOKENS


def estimate_prompt_tokens(texts: Sequence[str]) -> int:
    """A rounded-up token count for a prompt's messages (no tokenizer download needed)."""
    return sum(math.ceil(len(text) / _CHARS_PER_TOKEN) + 4 for text in texts)


@dataclass(frozen=True)
class WorstCase:
    """The most one call may use: tokens, and their cost (None when the model has no price)."""

    model: str
    tokens: int
    cost_usd: Decimal | None


def worst_case(
    spec: str, model: Any, texts: Sequence[str], table: Mapping[str, Decimal] | None = None
) -> WorstCase:
    """The worst case of one call of `model` on a prompt made of `texts`."""
    prompt = estimate_prompt_tokens(texts)
    answer = max_output_tokens(model)
    usage = ModelUsage(input_tokens=prompt, output_tokens=answer)
    return WorstCase(model=spec, tokens=usage.total, cost_usd=price(spec, usage, table))

"""Model prices from genai-prices, a workflow's own table first, and the worst case of a call."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from waypoint.guards import Budgets, RunGuard
from waypoint.pricing import (
    DEFAULT_MAX_OUTPUT_TOKENS,
    ModelUsage,
    max_output_tokens,
    price,
    usage_of,
    worst_case,
)


def test_known_models_are_priced_per_input_output_and_cached_token() -> None:
    plain = price("openai:gpt-4o", ModelUsage(input_tokens=1_000_000, output_tokens=0))
    assert plain is not None and plain > 0
    more_out = price("openai:gpt-4o", ModelUsage(input_tokens=1_000_000, output_tokens=1_000))
    assert more_out is not None and more_out > plain
    cached = price(
        "openai:gpt-4o",
        ModelUsage(input_tokens=1_000_000, output_tokens=0, cached_tokens=1_000_000),
    )
    assert cached is not None and cached < plain  # cached input is cheaper
    assert price("anthropic:claude-sonnet-4-5", ModelUsage(100, 100)) is not None


def test_an_unknown_model_has_no_price_and_a_table_wins() -> None:
    assert price("fake:model", ModelUsage(100, 100)) is None
    table = {"fake:model": Decimal("2.00")}
    assert price("fake:model", ModelUsage(400, 100), table) == Decimal("1.000000")


def test_usage_is_read_from_langchains_usage_metadata() -> None:
    usage = usage_of(
        {
            "input_tokens": 120,
            "output_tokens": 30,
            "total_tokens": 150,
            "input_token_details": {"cache_read": 100},
        }
    )
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens) == (120, 30, 100)
    assert usage_of(None).total == 0


class _Configured:
    max_tokens = 256


def test_the_worst_case_uses_the_models_output_allowance() -> None:
    assert max_output_tokens(_Configured()) == 256
    assert max_output_tokens(object()) == DEFAULT_MAX_OUTPUT_TOKENS
    worst = worst_case("openai:gpt-4o", _Configured(), ["x" * 300])
    assert worst.tokens == 100 + 4 + 256
    assert worst.cost_usd is not None and worst.cost_usd > 0


def test_the_guard_refuses_before_the_call() -> None:
    model: Any = _Configured()
    worst = worst_case("openai:gpt-4o", model, ["hello"])
    assert RunGuard(Budgets(tokens=10_000)).before_model_call("n", worst) is None
    halt = RunGuard(Budgets(tokens=100)).before_model_call("n", worst)
    assert halt is not None and halt.kind == "budget" and "may use up to" in halt.reason
    spent = RunGuard(Budgets(cost_usd=Decimal("0.01")))
    spent.record_model_call(0, Decimal("0.0099"))
    halt = spent.before_model_call("n", worst)
    assert halt is not None and "0.0099 spent" in halt.reason
    unknown = worst_case("fake:model", model, ["hello"])
    halt = RunGuard(Budgets(cost_usd=Decimal("1"))).before_model_call("n", unknown)
    assert halt is not None and "no price is known for fake:model" in halt.reason
    assert RunGuard(Budgets()).before_model_call("n", unknown) is None  # no budget, no check

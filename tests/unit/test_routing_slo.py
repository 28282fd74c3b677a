"""`Router.choose`: shared signals merged by samples; a provider above its latency SLO goes last."""

from __future__ import annotations

from waypoint.routing import MIN_SAMPLES, ProviderSignals, Router, merged


def _signals(latency: float, samples: int, errors: float = 0.0) -> ProviderSignals:
    return ProviderSignals(latency_ms=latency, error_rate=errors, samples=samples)


def test_a_provider_above_its_slo_is_ranked_after_those_within() -> None:
    router = Router()
    shared = {"a": _signals(60, MIN_SAMPLES), "b": _signals(100, MIN_SAMPLES)}
    plain = router.choose(["a", "b"], shared)
    assert plain.order == ["a", "b"] and plain.demoted == {}  # a is faster
    ranked = router.choose(["a", "b"], shared, {"a": 50, "b": 500})
    assert ranked.order == ["b", "a"]
    assert ranked.demoted == {"a": "latency 60.0 ms above its SLO 50 ms (5 samples)"}
    assert "ranked down a: latency 60.0 ms" in router.explain("b", {}, ranked)


def test_too_few_samples_keep_the_configured_order() -> None:
    router = Router()
    few = {"a": _signals(900, MIN_SAMPLES - 1)}
    assert router.choose(["a", "b"], few, {"a": 50}).order == ["a", "b"]


def test_own_and_shared_signals_are_weighted_by_samples() -> None:
    both = merged(_signals(10, 1, errors=1.0), _signals(40, 3))
    assert both.samples == 4
    assert both.latency_ms == (10 * 1 + 40 * 3) / 4
    assert both.error_rate == 0.25


def test_a_provider_above_its_error_rate_slo_is_ranked_down() -> None:
    router = Router()
    shared = {"a": _signals(10, MIN_SAMPLES, errors=0.2), "b": _signals(30, MIN_SAMPLES)}
    ranked = router.choose(["a", "b"], shared, {"a": 50, "b": 50}, {"a": 0.01, "b": 0.01})
    assert ranked.order == ["b", "a"]
    assert ranked.demoted == {"a": "error rate 20.0% above its SLO 1.0% (5 samples)"}

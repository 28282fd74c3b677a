"""Load-aware choice among a capability's healthy providers, from live signals.

Signals per provider: a moving average of latency, a moving error rate, and calls in flight,
kept per process and shared through the database (`waypoint.provider_health`: a fresh process
ranks on what others saw); from the shared breakers: open/half-open state and rate limits.
Healthy providers are ranked by `latency * (1 + in-flight) * (1 + 10 * error rate)`; providers
with too few samples keep their configured order. A provider whose latency or error rate is
above the SLO its registry card declares is ranked after every provider within theirs. The
reason for the choice (and for each provider ranked down) is recorded in the ledger.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

ALPHA = 0.2
"""Weight of the newest sample in the moving averages."""

MIN_SAMPLES = 5
"""Below this many calls a provider is ranked by its configured position only."""


@dataclass
class ProviderSignals:
    """Live signals of one provider in this process."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    in_flight: int = 0
    samples: int = 0

    def score(self) -> float:
        """Lower is better."""
        return max(self.latency_ms, 0.001) * (1 + self.in_flight) * (1 + 10 * self.error_rate)

    def record(self, latency_ms: float, failed: bool) -> None:
        """Fold one finished call into the averages."""
        if self.samples == 0:
            self.latency_ms = latency_ms
        else:
            self.latency_ms += ALPHA * (latency_ms - self.latency_ms)
        self.error_rate += ALPHA * ((1.0 if failed else 0.0) - self.error_rate)
        self.samples += 1


def merged(own: ProviderSignals, others: ProviderSignals | None) -> ProviderSignals:
    """One provider's signals here and elsewhere, weighted by samples; in flight summed."""
    if others is None or others.samples == 0:
        return own
    samples = own.samples + others.samples
    return ProviderSignals(
        latency_ms=(own.latency_ms * own.samples + others.latency_ms * others.samples) / samples,
        error_rate=(own.error_rate * own.samples + others.error_rate * others.samples) / samples,
        in_flight=own.in_flight + others.in_flight,
        samples=samples,
    )


@dataclass
class Ranking:
    """Providers best first, the signals they were ranked on, and who was ranked down why."""

    order: list[str]
    signals: dict[str, ProviderSignals]
    demoted: dict[str, str] = field(default_factory=dict)


@dataclass
class Router:
    """Signals of every provider this process has called."""

    signals: dict[str, ProviderSignals] = field(default_factory=dict)

    def of(self, provider: str) -> ProviderSignals:
        """The signals of a provider (created on first use)."""
        return self.signals.setdefault(provider, ProviderSignals())

    def rank(self, healthy: list[str]) -> list[str]:
        """Healthy providers, best first; configured order breaks ties and covers new ones."""
        position = {name: i for i, name in enumerate(healthy)}

        def key(name: str) -> tuple[float, int]:
            signals = self.of(name)
            if signals.samples < MIN_SAMPLES:
                return (0.0, position[name])
            return (signals.score(), position[name])

        if all(self.of(name).samples < MIN_SAMPLES for name in healthy):
            return list(healthy)
        return sorted(healthy, key=key)

    def choose(
        self,
        healthy: list[str],
        shared: Mapping[str, ProviderSignals] | None = None,
        slo_ms: Mapping[str, float] | None = None,
        slo_error_rate: Mapping[str, float] | None = None,
    ) -> Ranking:
        """`rank` on this process's signals merged with `shared`, then SLOs enforced.

        A provider with enough samples whose latency is above its `slo_ms`, or whose error rate
        is above its `slo_error_rate`, goes after every provider within its own (their order
        kept); why is in `Ranking.demoted`.
        """
        view = {name: merged(self.of(name), (shared or {}).get(name)) for name in healthy}
        position = {name: i for i, name in enumerate(healthy)}
        demoted: dict[str, str] = {}
        for name, signals in view.items():
            if signals.samples < MIN_SAMPLES:
                continue
            slo = (slo_ms or {}).get(name)
            errors = (slo_error_rate or {}).get(name)
            if slo is not None and signals.latency_ms > slo:
                demoted[name] = (
                    f"latency {signals.latency_ms:.1f} ms above its SLO {slo:g} ms "
                    f"({signals.samples} samples)"
                )
            elif errors is not None and signals.error_rate > errors:
                demoted[name] = (
                    f"error rate {signals.error_rate:.1%} above its SLO {errors:.1%} "
                    f"({signals.samples} samples)"
                )

        def key(name: str) -> tuple[bool, float, int]:
            signals = view[name]
            ranked = not all(view[n].samples < MIN_SAMPLES for n in healthy)
            score = signals.score() if ranked and signals.samples >= MIN_SAMPLES else 0.0
            return (name in demoted, score, position[name])

        return Ranking(order=sorted(healthy, key=key), signals=view, demoted=demoted)

    def explain(self, chosen: str, skipped: dict[str, str], ranking: Ranking | None = None) -> str:
        """Why `chosen` was picked, for the ledger."""
        s = ranking.signals.get(chosen, self.of(chosen)) if ranking else self.of(chosen)
        parts = [
            f"chose {chosen} (latency {s.latency_ms:.1f} ms, errors {s.error_rate:.0%}, "
            f"in flight {s.in_flight}, samples {s.samples})"
        ]
        parts.extend(f"skipped {name}: {why}" for name, why in skipped.items())
        if ranking is not None:
            parts.extend(f"ranked down {name}: {why}" for name, why in ranking.demoted.items())
        return "; ".join(parts)


def now() -> float:
    """Wall clock, for rate-limit windows shared across processes."""
    return time.time()

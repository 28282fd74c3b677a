"""Load-aware choice among a capability's healthy providers, from live signals.

Signals per provider, kept per process: a moving average of latency, a moving error rate, and
calls in flight; from the shared breakers: open/half-open state and rate limits. Healthy
providers are ranked by `latency * (1 + in-flight) * (1 + 10 * error rate)`; providers with too
few samples keep their configured order. The reason for the choice is recorded in the ledger.
"""

from __future__ import annotations

import time
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

    def explain(self, chosen: str, skipped: dict[str, str]) -> str:
        """Why `chosen` was picked, for the ledger."""
        s = self.of(chosen)
        parts = [
            f"chose {chosen} (latency {s.latency_ms:.1f} ms, errors {s.error_rate:.0%}, "
            f"in flight {s.in_flight}, samples {s.samples})"
        ]
        parts.extend(f"skipped {name}: {why}" for name, why in skipped.items())
        return "; ".join(parts)


def now() -> float:
    """Wall clock, for rate-limit windows shared across processes."""
    return time.time()

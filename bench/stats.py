"""Summaries of timing samples: median, spread (p10/p90 and IQR), rates and ratios."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Linear-interpolated percentile of already sorted values (`fraction` in 0..1)."""
    if not sorted_values:
        return math.nan
    position = (len(sorted_values) - 1) * fraction
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return sorted_values[low]
    weight = position - low
    return sorted_values[low] * (1 - weight) + sorted_values[high] * weight


@dataclass(frozen=True)
class Summary:
    """Distribution of one set of samples, in seconds."""

    n: int
    """Number of samples."""
    median: float
    """Middle sample."""
    p10: float
    """10th percentile."""
    p90: float
    """90th percentile."""
    q1: float
    """25th percentile (lower quartile)."""
    q3: float
    """75th percentile (upper quartile)."""
    mean: float
    """Arithmetic mean."""

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        """Summarise `samples` (seconds)."""
        ordered = sorted(samples)
        return cls(
            n=len(ordered),
            median=percentile(ordered, 0.5),
            p10=percentile(ordered, 0.1),
            p90=percentile(ordered, 0.9),
            q1=percentile(ordered, 0.25),
            q3=percentile(ordered, 0.75),
            mean=statistics.fmean(ordered) if ordered else math.nan,
        )

    @property
    def iqr(self) -> float:
        """Inter-quartile range (seconds)."""
        return self.q3 - self.q1

    def as_dict(self) -> dict[str, float]:
        """Raw numbers for `--json`."""
        return {
            "n": self.n,
            "median_s": self.median,
            "p10_s": self.p10,
            "p90_s": self.p90,
            "q1_s": self.q1,
            "q3_s": self.q3,
            "mean_s": self.mean,
        }


def ms(seconds: float) -> str:
    """Seconds as milliseconds, with precision that suits the size."""
    if seconds != seconds:
        return "-"
    value = seconds * 1000
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def spread(summary: Summary) -> str:
    """`p10-p90` in milliseconds."""
    return f"{ms(summary.p10)}-{ms(summary.p90)}"


def rate(per_second: float) -> str:
    """Operations per second."""
    if per_second != per_second:
        return "-"
    return f"{per_second:.0f}" if per_second >= 100 else f"{per_second:.1f}"


def ratio(value: float) -> str:
    """A ratio such as `1.07x`."""
    return "-" if value != value else f"{value:.2f}x"


def safe_ratio(numerator: float, denominator: float) -> float:
    """`numerator / denominator`, NaN when either is missing or the denominator is 0."""
    if denominator == 0 or numerator != numerator or denominator != denominator:
        return math.nan
    return numerator / denominator

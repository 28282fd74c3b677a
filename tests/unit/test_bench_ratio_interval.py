"""The benchmark's interval of a paired ratio (`bench.timing.ratio_interval`)."""

from __future__ import annotations

from bench.timing import paired_ratio, ratio_interval


def test_the_interval_holds_the_median_and_is_the_same_for_the_same_samples() -> None:
    baseline = [1.0] * 30
    variant = [1.0 + 0.01 * (i % 10) for i in range(30)]  # ratios 1.00 .. 1.09, ten of each
    low, high = ratio_interval(variant, baseline)
    assert low <= paired_ratio(variant, baseline) <= high
    assert 1.0 <= low < high <= 1.09
    assert ratio_interval(variant, baseline) == (low, high)  # seeded: a report is reproducible


def test_equal_rounds_give_a_point_and_too_few_give_none() -> None:
    assert ratio_interval([2.0] * 8, [1.0] * 8) == (2.0, 2.0)
    low, high = ratio_interval([2.0], [1.0])
    assert low != low and high != high  # NaN: one round says nothing about the spread

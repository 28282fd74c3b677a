"""Timing loops: variants measured side by side, interleaved, in the same event loop.

Interleaving (A, B, C, then B, C, A, ...) spreads drift (cache warm-up, WAL growth, background
vacuum, other processes on the machine) evenly over the variants, so their ratio is fair even
when the absolute figures wander. Each round's samples are kept in order, so a variant can also
be compared with another round by round (`paired_ratio`).
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

Operation = Callable[[int], Awaitable[object]]
"""One timed operation; gets the sample index (negative during warm-up)."""


@dataclass
class Samples:
    """Per-operation timings of one variant, in round order."""

    wall: list[float] = field(default_factory=list)
    """Wall-clock seconds."""
    cpu: list[float] = field(default_factory=list)
    """CPU seconds of this process (all its threads), less sensitive to other processes."""


async def interleaved(
    variants: Mapping[str, Operation], *, runs: int, warmup: int
) -> dict[str, Samples]:
    """Run each variant `warmup` times untimed, then `runs` times timed, rotating the order."""
    names = list(variants)
    for index in range(warmup):
        for name in names:
            await variants[name](-1 - index)
    gc.collect()
    samples = {name: Samples() for name in names}
    for index in range(runs):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            cpu = time.process_time()
            start = time.perf_counter()
            await variants[name](index)
            samples[name].wall.append(time.perf_counter() - start)
            samples[name].cpu.append(time.process_time() - cpu)
    return samples


async def repeat(operation: Operation, *, runs: int, warmup: int) -> Samples:
    """Time one operation `runs` times after `warmup` untimed calls."""
    return (await interleaved({"only": operation}, runs=runs, warmup=warmup))["only"]


def _ratios(variant: list[float], baseline: list[float]) -> list[float]:
    """Variant / baseline round by round (rounds with no baseline time left out)."""
    return [v / b for v, b in zip(variant, baseline, strict=True) if b > 0]


def paired_ratio(variant: list[float], baseline: list[float]) -> float:
    """Median over rounds of variant / baseline, each pair measured in the same round."""
    ratios = _ratios(variant, baseline)
    return statistics.median(ratios) if ratios else float("nan")


def ratio_interval(
    variant: list[float], baseline: list[float], *, confidence: float = 0.9, resamples: int = 2000
) -> tuple[float, float]:
    """A bootstrap interval of `paired_ratio`: how far another run's median could land.

    The rounds are resampled with a fixed seed, so the same samples give the same interval.
    """
    ratios = _ratios(variant, baseline)
    if len(ratios) < 2:
        return float("nan"), float("nan")
    draw = random.Random(0)
    medians = sorted(
        statistics.median(draw.choices(ratios, k=len(ratios))) for _ in range(resamples)
    )
    tail = (1 - confidence) / 2
    return medians[int(tail * (resamples - 1))], medians[int((1 - tail) * (resamples - 1))]

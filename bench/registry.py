"""The registry of benchmarks: `@benchmark("name")` adds one; the runner runs them in order.

A benchmark is an async function that takes the run's `BenchContext` and returns a `Section`:
a titled table of rows plus the goals it checks. New rows (history/diff, kill latency, ledger
overhead, eval scoring, server latency...) are new modules under `bench/suites/` with one
decorated function each; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.context import BenchContext
from bench.goals import Goal

Row = dict[str, str]
"""One table row, already formatted: column name → cell text."""


@dataclass
class Section:
    """What one benchmark reports: a table, notes on how it was measured, and goal checks."""

    title: str
    """Heading of the table in the console and in `docs/benchmarks.md`."""
    columns: list[str]
    """Column names, in order; every row has (at most) these keys."""
    rows: list[Row] = field(default_factory=list)
    """The figures, formatted for display."""
    notes: list[str] = field(default_factory=list)
    """How it was measured: one sentence each, printed under the table."""
    goals: list[Goal] = field(default_factory=list)
    """Goals checked by this benchmark (PASS/MISS with the measured ratio)."""
    data: dict[str, Any] = field(default_factory=dict)
    """Raw numbers (seconds, counts) for machine-readable output (`--json`)."""


BenchmarkFn = Callable[[BenchContext], Awaitable[Section]]


@dataclass(frozen=True)
class Benchmark:
    """A registered benchmark."""

    name: str
    """Short id, used by `--only`."""
    fn: BenchmarkFn
    """The coroutine function that measures and returns a `Section`."""
    order: int
    """Position in the run (lower first); ties run in registration order."""


_REGISTRY: dict[str, Benchmark] = {}


def benchmark(name: str, *, order: int = 100) -> Callable[[BenchmarkFn], BenchmarkFn]:
    """Register the decorated coroutine function as the benchmark `name`.

    Raises:
        ValueError: another benchmark already has that name.
    """

    def register(fn: BenchmarkFn) -> BenchmarkFn:
        if name in _REGISTRY and _REGISTRY[name].fn is not fn:
            raise ValueError(f"benchmark {name!r} registered twice; pick another name")
        _REGISTRY[name] = Benchmark(name=name, fn=fn, order=order)
        return fn

    return register


def registered() -> list[Benchmark]:
    """Every registered benchmark, in run order."""
    names = list(_REGISTRY)
    return sorted(_REGISTRY.values(), key=lambda b: (b.order, names.index(b.name)))

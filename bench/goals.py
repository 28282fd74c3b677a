"""Goals the figures are reported against: a measured ratio, a bound, PASS or MISS.

A goal may carry a `ProfileTarget`: a small workload the runner profiles (with pyinstrument,
when it is installed) when the goal is missed, so the report says where the time goes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Literal

Workload = Callable[[], AbstractAsyncContextManager[Callable[[], Awaitable[int]]]]
"""Sets up (outside the profile), yields the work to profile (returns its operation count)."""


@dataclass(frozen=True)
class ProfileTarget:
    """A workload to profile when a goal is missed."""

    label: str
    """What is profiled, e.g. `start_run on Postgres, 20 runs`."""
    run: Workload
    """The workload; the operation count gives the time per operation."""
    focus: tuple[str, ...] = ()
    """Function names whose callees are broken down, outermost first (e.g. `start_run`)."""
    baseline: Workload | None = None
    """Optional: the same work done the reference way; the report shows the difference."""
    baseline_label: str = "baseline"
    """Name of the baseline in the report (e.g. `bare`)."""


@dataclass(frozen=True)
class Goal:
    """One goal: `ratio` must be `<=` or `>=` `bound`."""

    name: str
    """What is compared, e.g. `Waypoint graph vs bare LangGraph, Postgres, sync`."""
    ratio: float
    """The measured ratio (NaN when it could not be measured)."""
    bound: float
    """The limit the ratio is held to."""
    direction: Literal["<=", ">="]
    """`<=`: lower is better (slowdowns); `>=`: higher is better (speed-ups)."""
    detail: str = ""
    """The figures behind the ratio, e.g. `23.1 ms vs 22.4 ms (median)`."""
    profile: ProfileTarget | None = None
    """Profiled when the goal is missed."""

    @property
    def passed(self) -> bool:
        """Whether the measured ratio is within the bound (NaN never passes)."""
        if self.ratio != self.ratio:
            return False
        return self.ratio <= self.bound if self.direction == "<=" else self.ratio >= self.bound

    @property
    def verdict(self) -> str:
        """`PASS` or `MISS`."""
        return "PASS" if self.passed else "MISS"

    @property
    def target(self) -> str:
        """The bound as text, e.g. `<= 1.10x`."""
        return f"{self.direction} {self.bound:.2f}x"

"""CPU accounting for a measurement window: this process, the Postgres server, the machine.

Linux only (/proc); elsewhere the figures are NaN. Postgres CPU is the sum over processes
named `postgres` that this user can read, so it is only meaningful for a local server.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies over all CPUs."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def _postgres_ticks() -> int | None:
    """CPU jiffies (utime + stime) of every readable process named `postgres`."""
    proc = Path("/proc")
    if not proc.exists():
        return None
    total = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        name_end = raw.rfind(")")
        if raw[raw.find("(") + 1 : name_end] != "postgres":
            continue
        fields = raw[name_end + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total


@dataclass(frozen=True)
class Sample:
    """Counters at one moment."""

    wall: float
    process: float
    machine: tuple[int, int] | None
    postgres: int | None


@dataclass(frozen=True)
class Usage:
    """CPU used between two samples, in cores (1.0 = one core busy the whole time)."""

    process: float
    """This process."""
    postgres: float
    """All `postgres` processes (server, backends, WAL writer...)."""
    machine_busy: float
    """Fraction of all cores busy (0..1)."""


def sample() -> Sample:
    """Read the counters now."""
    return Sample(time.perf_counter(), time.process_time(), _machine_ticks(), _postgres_ticks())


def usage(before: Sample, after: Sample) -> Usage:
    """CPU used between `before` and `after`."""
    wall = max(after.wall - before.wall, 1e-9)
    postgres = (
        (after.postgres - before.postgres) / _TICK / wall
        if before.postgres is not None and after.postgres is not None
        else math.nan
    )
    busy = math.nan
    if before.machine is not None and after.machine is not None:
        total = after.machine[1] - before.machine[1]
        busy = (after.machine[0] - before.machine[0]) / total if total else math.nan
    return Usage(
        process=(after.process - before.process) / wall, postgres=postgres, machine_busy=busy
    )


def cores(value: float) -> str:
    """Cores used, e.g. `0.66`."""
    return "-" if value != value else f"{value:.2f}"


def percent(value: float) -> str:
    """A 0..1 fraction as a percentage."""
    return "-" if value != value else f"{value * 100:.0f}%"

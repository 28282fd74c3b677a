"""The machine a run measured: cores, CPU, Python, Postgres and library versions."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Machine:
    """Where the figures come from (printed above the tables and written to the report)."""

    cores: int
    """Logical CPUs visible to this process."""
    cpu: str
    """CPU model name, from /proc/cpuinfo when available."""
    memory: str
    """Total memory, from /proc/meminfo when available."""
    os: str
    """Kernel and distribution, as `platform.platform()` reports it."""
    python: str
    """Interpreter version and implementation."""
    postgres: str
    """`SELECT version()` of the benchmark server, or why it is missing."""
    packages: dict[str, str]
    """Versions of LangGraph and the libraries on the measured path."""
    load: str
    """Load average (1, 5, 15 minutes) when the run started: other work competes for cores."""
    speed: str
    """How fast this machine ran a plain Python loop (`python_speed`): a hint, not a calibration."""

    def lines(self) -> list[tuple[str, str]]:
        """(label, value) pairs, in display order."""
        versions = ", ".join(f"{name} {version}" for name, version in self.packages.items())
        return [
            ("Cores", str(self.cores)),
            ("CPU", self.cpu),
            ("Memory", self.memory),
            ("OS", self.os),
            ("Python", self.python),
            ("Postgres", self.postgres),
            ("Packages", versions),
            ("Python speed", self.speed),
            ("Load average at start", self.load),
        ]


PACKAGES = (
    "langgraph",
    "langgraph-checkpoint",
    "langgraph-checkpoint-postgres",
    "langgraph-checkpoint-sqlite",
    "psycopg",
    "aiosqlite",
    "pydantic",
)


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory() -> str:
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                kib = int(line.split()[1])
                return f"{kib / 1024 / 1024:.1f} GiB"
    return "unknown"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    """`os.getloadavg()` as text (1, 5, 15 minutes), or `unknown`."""
    try:
        return " / ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def python_speed(iterations: int = 5_000_000) -> str:
    """The best of three timings of a plain Python loop, as text.

    Machines called alike ("2 cores, AMD EPYC") differ two to three times in speed, and one
    machine's speed changed about 3x within a session. Ratios measured side by side barely move;
    absolute goals (a command within 1 s) move with the machine. The loop is a hint of that, not
    a calibration: one run measured the same loop speed at both ends while the workload ran
    about twice as slow as on an earlier machine.
    """
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for value in range(iterations):
            total += value
        best = min(best, time.perf_counter() - started)
    return f"{best * 1000:.0f} ms for {iterations:,} additions in a Python loop (best of 3)"


def describe(postgres: str) -> Machine:
    """Describe this machine; `postgres` is the server's version string (or why it is absent)."""
    return Machine(
        cores=os.cpu_count() or 1,
        cpu=_cpu_model(),
        memory=_memory(),
        os=platform.platform(),
        python=f"{platform.python_implementation()} {sys.version.split()[0]}",
        postgres=postgres,
        packages={name: _version(name) for name in PACKAGES},
        load=load_average(),
        speed=python_speed(),
    )

"""`python -m bench.cli_startup`: how long the `waypoint` command takes to start, and the floor.

Each command is a new process, run interleaved with the others (`--rounds` times, after one
warm-up that also writes the bytecode caches), so drift from other work on the machine falls on
every variant alike. `waypoint --help` imports no LangGraph; a command that reads a thread
(`status`) must import LangGraph, its saver and the workflow's graph: `import langgraph.graph`
is shown as that floor. Figures are medians and minimums of wall-clock seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
WAYPOINT = [sys.executable, "-m", "waypoint"]


def _seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=PROJECT, capture_output=True, check=False)
    return time.perf_counter() - started


COMMANDS = (
    "python -c pass",
    "waypoint --help",
    "import langgraph.graph (floor)",
    "waypoint status THREAD",
)
"""The commands timed, in order: the interpreter's floor, help, LangGraph's floor, a status."""


def measure(rounds: int) -> dict[str, list[float]] | str:
    """Wall-clock seconds of each command (`COMMANDS`), `rounds` times, interleaved.

    Returns the seconds by command, or what failed when the thread to read could not be made.
    """
    with tempfile.TemporaryDirectory() as folder:
        db = f"sqlite:///{Path(folder) / 'bench.sqlite'}"
        thread = "bench-cli-startup"
        ticket = (
            '{"ticket_id": "T-1", "customer_id": "C-100", "order_id": "O-4", '
            '"message": "Where is my parcel?"}'
        )
        ran = subprocess.run(
            [*WAYPOINT, "run", "support", "--input", ticket, "--thread", thread, "--db", db],
            cwd=PROJECT,
            capture_output=True,
            check=False,
        )
        if ran.returncode != 0:
            return ran.stderr.decode()
        commands = dict(
            zip(
                COMMANDS,
                (
                    [sys.executable, "-c", "pass"],
                    [*WAYPOINT, "--help"],
                    [sys.executable, "-c", "import langgraph.graph"],
                    [*WAYPOINT, "status", thread, "--db", db],
                ),
                strict=True,
            )
        )
        times: dict[str, list[float]] = {name: [] for name in commands}
        for command in commands.values():
            _seconds(command)  # warm-up: bytecode caches, page cache
        for _ in range(rounds):
            for name, command in commands.items():
                times[name].append(_seconds(command))
    return times


def main() -> int:
    """Measure and print one table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
    times = measure(rounds)
    if isinstance(times, str):
        sys.stderr.write(times)
        return 1
    load = os.getloadavg()[0]
    sys.stdout.write(
        f"{'command':34} {'median s':>9} {'min s':>7}  ({rounds} rounds, load {load:.1f})\n"
    )
    for name, samples in times.items():
        sys.stdout.write(f"{name:34} {statistics.median(samples):9.3f} {min(samples):7.3f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How long a `waypoint` command takes to start (issue: the kit works for any workflow).

Each command is a new process (`bench/cli_startup.py`), interleaved with the others. Goals:
`waypoint --help` within 0.3 s and `waypoint status THREAD` within 1.0 s; beside them the
interpreter's own start and `import langgraph.graph`, the floor of a command that reads a
thread.
"""

from __future__ import annotations

import asyncio
import os

from bench.cli_startup import measure
from bench.context import BenchContext
from bench.goals import Goal
from bench.registry import Section, benchmark
from bench.stats import Summary, ms, spread

BOUNDS_S = {"waypoint --help": 0.3, "waypoint status THREAD": 1.0}


@benchmark("cli-startup", order=95)
async def cli_startup(ctx: BenchContext) -> Section:
    section = Section(
        title="command start-up: a new process per command, SQLite, offline",
        columns=["command", "median ms", "p10-p90 ms", "min ms", "goal ms"],
        notes=[
            "Each command a new process, interleaved with the others after one untimed warm-up "
            "(bytecode and page caches). `status` reads a completed support thread: it imports "
            "LangGraph, its saver and the workflow's graph, so `import langgraph.graph` is its "
            f"floor. Load average at the end: {os.getloadavg()[0]:.1f}.",
        ],
    )
    times = await asyncio.to_thread(measure, max(5, ctx.scale.runs // 2))
    if isinstance(times, str):
        section.notes.append(f"not measured: the thread could not be made: {times[-300:]}")
        return section
    for command, samples in times.items():
        summary = Summary.of(samples)
        bound = BOUNDS_S.get(command)
        section.rows.append(
            {
                "command": command,
                "median ms": ms(summary.median),
                "p10-p90 ms": spread(summary),
                "min ms": ms(min(samples)),
                "goal ms": ms(bound) if bound is not None else "-",
            }
        )
        section.data[command] = samples
        if bound is not None:
            section.goals.append(
                Goal(
                    name=f"{command} vs {bound:g} s",
                    ratio=summary.median / bound,
                    bound=1.0,
                    direction="<=",
                    detail=f"median {ms(summary.median)} ms, fastest {ms(min(samples))} ms",
                )
            )
    return section

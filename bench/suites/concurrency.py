"""Concurrent runs in one process: 1, 8 and 32 auto-refund runs at once (`asyncio.gather`).

Both graph variants share one `open_stores` (one saver, one pool on Postgres) as a server
process would; each level gets freshly opened stores. The runner is left out: each `start_run`
opens a pool of its own, so 32 at once would measure connection set-up (and could exhaust
`max_connections`). A level whose runs fail is reported with the error instead of figures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import cast

from bench import cpu
from bench.context import BenchContext
from bench.drivers import BARE, GRAPH, BackendName, graph_run, open_backend
from bench.lock_meter import MeteredLock, meter
from bench.registry import Row, Section, benchmark
from bench.stats import Summary, ms, rate, ratio, safe_ratio, spread

LEVELS = (1, 8, 32)
COLUMNS = [
    "saver",
    "in flight",
    "variant",
    "runs/s",
    "vs 1 in flight",
    "vs bare",
    "median ms",
    "p10-p90 ms",
    "process CPU",
    "Postgres CPU",
    "saver lock wait",
]


@dataclass
class Level:
    """What one variant did at one concurrency level."""

    runs: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    usages: list[cpu.Usage] = field(default_factory=list)
    lock_wait: float = 0.0
    """Seconds all runs spent queuing for the saver's lock."""
    error: str | None = None

    @property
    def runs_per_s(self) -> float:
        return safe_ratio(float(self.runs), self.seconds) if self.error is None else float("nan")

    def cores(self, which: str) -> float:
        values = [getattr(u, which) for u in self.usages]
        return sum(values) / len(values) if values else float("nan")


async def _throughput(
    run: Callable[[], Awaitable[object]],
    total: int,
    concurrency: int,
    into: Level,
    lock: MeteredLock | None = None,
) -> None:
    """Run `total` runs with `concurrency` in flight; add time, latencies, CPU to `into`."""
    remaining = total
    if lock is not None:
        lock.reset()

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            start = time.perf_counter()
            await run()
            into.latencies.append(time.perf_counter() - start)

    before = cpu.sample()
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(worker())
    except ExceptionGroup as failed:
        first = failed.exceptions[0]
        into.error = f"{type(first).__name__}: {(str(first).splitlines() or [''])[0][:120]}"
        return
    after = cpu.sample()
    into.runs += total
    into.seconds += after.wall - before.wall
    into.usages.append(cpu.usage(before, after))
    if lock is not None:
        into.lock_wait += lock.waited


def _row(name: str, level: int, variant: str, found: Level, base: float, bare: float) -> Row:
    if found.error is not None:
        return {
            "saver": name,
            "in flight": str(level),
            "variant": variant,
            "runs/s": "failed",
            "vs 1 in flight": found.error,
        }
    summary = Summary.of(found.latencies)
    return {
        "saver": name,
        "in flight": str(level),
        "variant": variant,
        "runs/s": rate(found.runs_per_s),
        "vs 1 in flight": ratio(safe_ratio(found.runs_per_s, base)),
        "vs bare": ratio(safe_ratio(found.runs_per_s, bare)),
        "median ms": ms(summary.median),
        "p10-p90 ms": spread(summary),
        "process CPU": cpu.cores(found.cores("process")),
        "Postgres CPU": cpu.cores(found.cores("postgres")) if name == "postgres" else "-",
        "saver lock wait": f"{ms(found.lock_wait / max(found.runs, 1))} ms/run",
    }


@benchmark("concurrency", order=40)
async def concurrency(ctx: BenchContext) -> Section:
    total = ctx.scale.concurrent_runs
    section = Section(
        title="concurrent runs in one process (auto-refund, durability sync)",
        columns=COLUMNS,
        notes=[
            f"{total} runs per level and variant (two halves, variant order swapped between "
            "them); runs/s = runs / wall time; latency is per run, under that load.",
            "process CPU / Postgres CPU = cores used by this process / by the `postgres` "
            "processes while the level ran (1.00 = one core busy all the time).",
            "saver lock wait = time runs spent queuing for the saver's per-instance "
            "`asyncio.Lock` (every saver query takes it), per run; measured by swapping in a "
            "counting lock (`bench/lock_meter.py`).",
        ],
    )
    for name in cast(list[BackendName], ctx.backends()):
        base: dict[str, float] = {}
        for level in LEVELS:
            found = {GRAPH: Level(), BARE: Level()}
            async with open_backend(ctx, name) as backend:
                lock = meter(backend.checkpointer)
                runners = {
                    v: partial(graph_run, backend.graph(v), "sync", who=v) for v in (GRAPH, BARE)
                }
                for run in runners.values():  # warm up (not counted)
                    await _throughput(run, ctx.scale.warmup, 1, Level())
                for half, order in enumerate(([GRAPH, BARE], [BARE, GRAPH])):
                    share = total // 2 if half == 0 else total - total // 2
                    for variant in order:
                        if found[variant].error is None:
                            await _throughput(runners[variant], share, level, found[variant], lock)
            for variant in (GRAPH, BARE):
                base.setdefault(variant, found[variant].runs_per_s)
                row = _row(
                    name, level, variant, found[variant], base[variant], found[BARE].runs_per_s
                )
                section.rows.append(row)
                section.data[f"{name}/{level}/{variant}"] = {
                    **Summary.of(found[variant].latencies).as_dict(),
                    "runs_per_s": found[variant].runs_per_s,
                    "process_cpu": found[variant].cores("process"),
                    "postgres_cpu": found[variant].cores("postgres"),
                    "saver_lock_wait_s": found[variant].lock_wait,
                    "error": found[variant].error,
                }
    if any(row.get("runs/s") == "failed" for row in section.rows):
        section.notes.append(
            "failed = the runs raised (with the error); on SQLite, `SqliteDatabase.transaction()` "
            "issues BEGIN IMMEDIATE on the one shared connection, so two runs in `execute` at "
            "once collide (see Where the time goes)."
        )
    if ctx.pg_url is None:
        section.notes.append(f"No Postgres rows: {ctx.pg_problem}")
    return section

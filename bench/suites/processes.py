"""Two worker processes sharing one Postgres against one: does a second process add throughput?

Two workers (`bench.worker`) open their own stores and warm up once. Then timed windows
alternate (1 process, 2, 2, 1, ...): in a 1-process window only the first worker runs, in a
2-process window both start at the same moment. Each runs auto-refund tickets (Waypoint graph,
durability sync) for the window's length. Worker CPU, Postgres CPU and whole-machine CPU (from
/proc) show whether the machine ran out of cores, and how much of it other work took.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import cpu
from bench.context import BenchContext
from bench.goals import Goal
from bench.registry import Section, benchmark
from bench.stats import Summary, ms, rate, ratio, safe_ratio, spread

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCALING_BOUND = 1.7
"""Goal: 2 processes at least 1.7x the throughput of one."""
CORES = os.cpu_count() or 1


@dataclass
class Outcome:
    """What the workers did in the windows of one kind (1 or 2 processes)."""

    processes: int
    runs: int
    seconds: float
    """Window seconds, summed over windows (not over workers)."""
    workers_cpu: float
    """CPU used by all workers together, in cores (1.0 = one core busy all the time)."""
    postgres_cpu: float
    """CPU used by the Postgres server processes, in cores (NaN if not local)."""
    machine_busy: float
    """Fraction of all cores busy during the windows (every process, Postgres included)."""
    latencies: list[float]

    @property
    def runs_per_s(self) -> float:
        return safe_ratio(float(self.runs), self.seconds)

    @property
    def other_cpu(self) -> float:
        """Cores busy with anything but the workers and Postgres (other jobs, this parent)."""
        return max(self.machine_busy * CORES - self.workers_cpu - self.postgres_cpu, 0.0)

    @property
    def cpu_per_run(self) -> float:
        """Seconds of CPU (workers + Postgres) per run."""
        return safe_ratio(self.workers_cpu + self.postgres_cpu, self.runs_per_s)

    @property
    def ceiling(self) -> float:
        """Runs per second if all the cores other work left free did nothing but runs."""
        return safe_ratio(CORES - self.other_cpu, self.cpu_per_run)


class Workers:
    """Worker processes kept up across windows."""

    def __init__(self, procs: list[Any]) -> None:
        self.procs = procs

    @classmethod
    async def start(cls, url: str, count: int, in_flight: int, warmup: int) -> Workers:
        procs = await asyncio.gather(*(_spawn(url, in_flight, warmup) for _ in range(count)))
        return cls(list(procs))

    async def window(self, count: int, seconds: float) -> tuple[list[dict[str, Any]], cpu.Usage]:
        """Run a window on the first `count` workers; their results and the CPU used."""
        active = self.procs[:count]
        for proc in active:
            proc.stdin.write(f"{seconds}\n".encode())
        before = cpu.sample()
        await asyncio.gather(*(proc.stdin.drain() for proc in active))
        lines = await asyncio.gather(*(proc.stdout.readline() for proc in active))
        used = cpu.usage(before, cpu.sample())
        results = []
        for proc, line in zip(active, lines, strict=True):
            if not line:
                _, err = await proc.communicate()
                raise RuntimeError(f"bench worker died: {err.decode()[-2000:]}")
            results.append(json.loads(line))
        return results, used

    async def stop(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.stdin.write(b"stop\n")
        await asyncio.gather(*(proc.communicate() for proc in self.procs))


async def _spawn(url: str, in_flight: int, warmup: int) -> Any:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.worker",
        "--url",
        url,
        "--in-flight",
        str(in_flight),
        "--warmup",
        str(warmup),
        cwd=PROJECT_ROOT,
        env=dict(os.environ),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = await proc.stdout.readline()
    if line.strip() != b"ready":
        _, err = await proc.communicate()
        raise RuntimeError(f"bench worker failed to start: {line!r} {err.decode()[-2000:]}")
    return proc


async def _measure(ctx: BenchContext, url: str, in_flight: int) -> dict[int, Outcome]:
    pattern = (1, 2, 2, 1) if ctx.quick else (1, 2, 2, 1, 1, 2, 2, 1)
    found = {
        n: Outcome(n, 0, 0.0, 0.0, 0.0, 0.0, []) for n in (1, 2)
    }  # CPU figures are summed per window, averaged at the end
    workers = await Workers.start(url, 2, in_flight, ctx.scale.warmup)
    try:
        for count in pattern:
            results, used = await workers.window(count, ctx.scale.process_seconds)
            outcome = found[count]
            elapsed = max(r["elapsed"] for r in results)
            outcome.runs += sum(r["runs"] for r in results)
            outcome.seconds += elapsed
            outcome.workers_cpu += sum(r["cpu"] for r in results) / elapsed
            outcome.postgres_cpu += used.postgres
            outcome.machine_busy += used.machine_busy
            outcome.latencies += [x for r in results for x in r["latencies"]]
    finally:
        await workers.stop()
    for count, outcome in found.items():
        windows = pattern.count(count)
        outcome.workers_cpu /= windows
        outcome.postgres_cpu /= windows
        outcome.machine_busy /= windows
    return found


@benchmark("processes", order=50)
async def processes(ctx: BenchContext) -> Section:
    windows = "1, 2, 2, 1" if ctx.quick else "1, 2, 2, 1, 1, 2, 2, 1"
    section = Section(
        title="2 processes vs 1 on one Postgres (Waypoint graph, auto-refund, durability sync)",
        columns=[
            "processes",
            "in flight / process",
            "runs/s",
            "vs 1 process",
            "workers CPU",
            "Postgres CPU",
            "other CPU",
            "machine busy",
            "CPU ms/run",
            "median ms",
            "p10-p90 ms",
        ],
        notes=[
            f"windows of {ctx.scale.process_seconds:.0f} s in the order {windows} processes, "
            "workers started and warmed up once; runs/s = all runs / window time.",
            "workers CPU / Postgres CPU = cores used (1.00 = one core busy all the time) by the "
            "workers / by the `postgres` processes; other CPU = cores busy with anything else "
            f"(other jobs on the machine, this parent); machine busy = share of all {CORES} "
            "cores busy (/proc/stat); CPU ms/run = (workers + Postgres CPU) / runs per second.",
            "The ceiling in the goal = (cores - other CPU) / CPU per run: the throughput the "
            "free cores could give if they did nothing but runs.",
        ],
    )
    if ctx.pg_url is None:
        section.notes.append(f"Not measured: {ctx.pg_problem}")
        return section
    levels = (1,) if ctx.quick else (1, 8)
    for in_flight in levels:
        found = await _measure(ctx, ctx.pg_url, in_flight)
        one, two = found[1], found[2]
        scaling = safe_ratio(two.runs_per_s, one.runs_per_s)
        for outcome in (one, two):
            summary = Summary.of(outcome.latencies)
            section.rows.append(
                {
                    "processes": str(outcome.processes),
                    "in flight / process": str(in_flight),
                    "runs/s": rate(outcome.runs_per_s),
                    "vs 1 process": ratio(safe_ratio(outcome.runs_per_s, one.runs_per_s)),
                    "workers CPU": cpu.cores(outcome.workers_cpu),
                    "Postgres CPU": cpu.cores(outcome.postgres_cpu),
                    "other CPU": cpu.cores(outcome.other_cpu),
                    "machine busy": cpu.percent(outcome.machine_busy),
                    "CPU ms/run": ms(outcome.cpu_per_run),
                    "median ms": ms(summary.median),
                    "p10-p90 ms": spread(summary),
                }
            )
            section.data[f"{outcome.processes}p/{in_flight}"] = {
                **summary.as_dict(),
                "runs_per_s": outcome.runs_per_s,
                "workers_cpu": outcome.workers_cpu,
                "postgres_cpu": outcome.postgres_cpu,
                "other_cpu": outcome.other_cpu,
                "machine_busy": outcome.machine_busy,
            }
        section.goals.append(
            Goal(
                name=f"2 processes vs 1, {in_flight} in flight per process, Postgres",
                ratio=scaling,
                bound=SCALING_BOUND,
                direction=">=",
                detail=f"{rate(two.runs_per_s)} vs {rate(one.runs_per_s)} runs/s; machine busy "
                f"{cpu.percent(one.machine_busy)} → {cpu.percent(two.machine_busy)}; ceiling "
                f"{rate(one.ceiling)} runs/s = {ratio(safe_ratio(one.ceiling, one.runs_per_s))}",
            )
        )
    return section

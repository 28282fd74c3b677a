"""The `support` graph through Waypoint against bare LangGraph, per saver and durability mode.

Each backend is opened once; for each durability mode the three variants (runner, Waypoint
graph, bare LangGraph) run the auto-refund ticket C-100/O-1 interleaved, in the same process
and event loop. Every run ends refunded with a payment and a reply written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import cast, get_args

from langgraph.types import Durability

from bench.context import BenchContext
from bench.drivers import (
    BARE,
    GRAPH,
    RUNNER,
    Backend,
    BackendName,
    graph_run,
    open_backend,
    run_operation,
    runner_run,
    super_steps,
    thread_config,
)
from bench.goals import Goal, ProfileTarget, Workload
from bench.registry import Section, benchmark
from bench.stats import Summary, ms, rate, ratio, spread
from bench.timing import interleaved, paired_ratio

DURABILITIES: tuple[Durability, ...] = get_args(Durability)
SLOWDOWN_BOUND = 1.10
"""Goal: Waypoint at most 10% slower than bare LangGraph on the same saver."""


async def _checkpoints(backend: Backend, thread_id: str) -> int:
    return len([c async for c in backend.checkpointer.alist(thread_config(thread_id))])


async def _checkpoints_per_run(backend: Backend, variant: str, durability: Durability) -> int:
    """Checkpoints one more (untimed) run of `variant` leaves in the saver.

    The runner writes through stores of its own, but to the same database file or server, so
    the backend's saver sees its checkpoints too.
    """
    if variant == RUNNER:
        thread_id = await runner_run(backend.url, durability)
    else:
        thread_id = await graph_run(backend.graph(variant), durability)
    return await _checkpoints(backend, thread_id)


def _profile_runner(ctx: BenchContext, name: BackendName) -> ProfileTarget:
    runs = ctx.scale.profile_runs

    @asynccontextmanager
    async def workload() -> AsyncIterator[Callable[[], Awaitable[int]]]:
        async with open_backend(ctx, name) as backend:
            await runner_run(backend.url, "sync")  # imports, caches, database files

            async def run() -> int:
                for _ in range(runs):
                    await runner_run(backend.url, "sync")
                return runs

            yield run

    return ProfileTarget(
        label=f"start_run on {name}, durability sync, {runs} runs",
        run=workload,
        focus=("start_run", "open_stores"),
    )


def _profile_graph(ctx: BenchContext, name: BackendName) -> ProfileTarget:
    runs = ctx.scale.profile_runs * 4  # the difference is small: it needs samples

    def workload(variant: str) -> Workload:
        @asynccontextmanager
        async def prepared() -> AsyncIterator[Callable[[], Awaitable[int]]]:
            async with open_backend(ctx, name) as backend:
                graph = backend.graph(variant)
                await graph_run(graph, "sync")  # compile and connect outside the profile

                async def run() -> int:
                    for _ in range(runs):
                        await graph_run(graph, "sync")
                    return runs

                yield run

        return prepared

    return ProfileTarget(
        label=f"Waypoint graph vs bare LangGraph on {name}, durability sync, {runs} runs each",
        run=workload(GRAPH),
        baseline=workload(BARE),
        baseline_label="bare",
    )


@benchmark("support-runs", order=10)
async def support_runs(ctx: BenchContext) -> Section:
    async with open_backend(ctx, "memory"):
        steps = await super_steps()
    section = Section(
        title="support graph: Waypoint vs bare LangGraph (auto-refund ticket C-100/O-1)",
        columns=[
            "saver",
            "durability",
            "variant",
            "runs/s",
            "median ms",
            "p10-p90 ms",
            "CPU ms",
            "ms/step",
            "ckpts",
            "vs bare",
        ],
        notes=[
            f"{ctx.scale.runs} timed runs per cell after {ctx.scale.warmup} warm-up runs, "
            "variants interleaved in one event loop; runs/s = 1 / mean latency (one at a time).",
            f"ms/step = median latency / {steps} super-steps (`__start__` and 8 nodes); "
            "ckpts = checkpoints one run leaves in the saver.",
            "CPU ms = median CPU time of this process per run (all its threads): less sensitive "
            "than wall time to other work on the machine.",
            "vs bare = median over rounds of (variant time / bare LangGraph time in the same "
            "round), wall time; the goal uses it too.",
            "memory: InMemorySaver, side effects in SQLite (the runner needs a database URL, "
            "so it has no memory row).",
            "waypoint runner = `start_run` (takes the thread lock, indexes the thread, runs with "
            "the ledger and guards, reads the end state), reusing the stores held "
            "open around the measurement as a long-lived process does; the one-off cost of "
            "opening them is in the runner-overhead table.",
            "waypoint graph = the compiled Waypoint graph invoked directly, inside the same open "
            "stores as bare.",
        ],
    )
    backends: list[BackendName] = ["memory", *cast(list[BackendName], ctx.backends())]
    for name in backends:
        async with open_backend(ctx, name) as backend:
            variants = backend.variants()
            for durability in DURABILITIES:
                ops = {v: run_operation(backend, v, durability) for v in variants}
                samples = await interleaved(ops, runs=ctx.scale.runs, warmup=ctx.scale.warmup)
                summaries = {v: Summary.of(s.wall) for v, s in samples.items()}
                bare = summaries[BARE].median
                bare_cpu = Summary.of(samples[BARE].cpu).median
                for variant in variants:
                    summary = summaries[variant]
                    cpu = Summary.of(samples[variant].cpu)
                    ckpts = await _checkpoints_per_run(backend, variant, durability)
                    slowdown = paired_ratio(samples[variant].wall, samples[BARE].wall)
                    section.rows.append(
                        {
                            "saver": name,
                            "durability": durability,
                            "variant": variant,
                            "runs/s": rate(1 / summary.mean),
                            "median ms": ms(summary.median),
                            "p10-p90 ms": spread(summary),
                            "CPU ms": ms(cpu.median),
                            "ms/step": ms(summary.median / steps),
                            "ckpts": str(ckpts),
                            "vs bare": "1.00x" if variant == BARE else ratio(slowdown),
                        }
                    )
                    section.data[f"{name}/{durability}/{variant}"] = {
                        **summary.as_dict(),
                        "cpu": cpu.as_dict(),
                        "checkpoints": ckpts,
                        "vs_bare": slowdown,
                    }
                    if durability == "sync" and variant != BARE:
                        profile = (
                            _profile_runner(ctx, name)
                            if variant == RUNNER
                            else _profile_graph(ctx, name)
                        )
                        section.goals.append(
                            Goal(
                                name=f"{variant} vs bare LangGraph, {name}, sync",
                                ratio=slowdown,
                                bound=SLOWDOWN_BOUND,
                                direction="<=",
                                detail=f"median {ms(summary.median)} ms vs {ms(bare)} ms; CPU "
                                f"{ms(cpu.median)} ms vs {ms(bare_cpu)} ms",
                                profile=profile,
                            )
                        )
    if ctx.pg_url is None:
        section.notes.append(f"No Postgres rows: {ctx.pg_problem}")
    return section

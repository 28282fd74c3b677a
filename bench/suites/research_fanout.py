"""The `research` workflow's 6-way fan-out: Waypoint's runner against bare LangGraph (issue #16).

One run plans six sub-questions and sends six research tasks (each a subgraph with an agent loop
over `messages` and LangGraph's `ToolNode`), then synthesises and gates the brief. Waypoint:
`start_run` (ledger, guards, kill switch, thread lock and index, the failure ladders, the
capability registry). Bare: the same state, nodes, subgraph and edges with no error handler or
retry policy, compiled with the same saver and Store and invoked directly
(`bench.research_fanout.compile_bare`). Memory is off, so every run researches all six.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

from bench.context import BenchContext
from bench.drivers import BackendName, open_backend
from bench.goals import Goal, ProfileTarget, Workload
from bench.registry import Section, benchmark
from bench.research_fanout import CONTEXT, INPUT, compile_bare
from bench.stats import Summary, ms, spread
from bench.timing import Operation, interleaved, paired_ratio, ratio_interval
from state.research import ResearchContext
from waypoint.runner import start_run
from waypoint.workflows import load_workflow

BOUND = 1.15
"""Goal of issue #16: a 6-way fan-out run at most 15% slower than bare LangGraph."""


def _variants(url: str, checkpointer: Any, store: Any) -> dict[str, Operation]:
    bare_graph = compile_bare(checkpointer, store)
    kit_graph = load_workflow("research").compile(checkpointer, store)
    context = ResearchContext(**CONTEXT)

    async def invoke(graph: Any, prefix: str) -> object:
        config = {"configurable": {"thread_id": f"{prefix}-{uuid.uuid4().hex}"}}
        out = await graph.ainvoke(INPUT, config, context=context, durability="sync")
        assert out["outcome"] == "accepted", out
        return out

    async def bare(_: int) -> object:
        return await invoke(bare_graph, "bare")

    async def graph(_: int) -> object:
        return await invoke(kit_graph, "graph")

    async def kit(_: int) -> object:
        report = await start_run("research", INPUT, db_url=url, context=CONTEXT)
        assert report.status == "completed", report
        return report

    return {"bare": bare, "graph": graph, "waypoint": kit}


def _profile(ctx: BenchContext, name: BackendName, runs: int) -> ProfileTarget:
    def workload(variant: str) -> Workload:
        @asynccontextmanager
        async def prepared() -> AsyncIterator[Callable[[], Awaitable[int]]]:
            async with open_backend(ctx, name) as backend:
                assert backend.stores.store is not None
                operation = _variants(backend.url, backend.checkpointer, backend.stores.store)[
                    variant
                ]
                await operation(-1)  # imports, caches, the corpus index

                async def run() -> int:
                    for index in range(runs):
                        await operation(index)
                    return runs

                yield run

        return prepared

    return ProfileTarget(
        label=f"research 6-way fan-out on {name}, {runs} runs each",
        run=workload("waypoint"),
        baseline=workload("bare"),
        baseline_label="bare",
        focus=("start_run",),
    )


@benchmark("research-fanout", order=17)
async def research_fanout(ctx: BenchContext) -> Section:
    """A 6-way `research` run: Waypoint's runner vs bare LangGraph on the same saver and Store."""
    # each run is ~0.2-0.5 s of six agent loops; rounds differ by +-10% on a shared 2-core
    # machine, so half the usual count keeps the median's interval near +-0.04
    runs = max(6, ctx.scale.runs // 2)
    section = Section(
        title="research: a 6-way fan-out run, Waypoint vs bare LangGraph (same saver, sync)",
        columns=["saver", "variant", "median ms", "p10-p90 ms", "CPU ms", "vs bare"],
        notes=[
            f"{runs} runs per variant after {ctx.scale.warmup} warm-up, interleaved; the question "
            "names five stdlib names, so `plan` sends six research tasks (depth 2, memory off).",
            "bare = the same nodes, subgraph and edges compiled on the saver and Store and "
            "invoked (no error handlers, retry policies or runner); graph = the workflow's own "
            "graph (failure ladders, admission) invoked directly; waypoint = `start_run` (that "
            "graph with ledger rows, guards, kill switch, thread lock and index).",
            "vs bare = median over rounds of waypoint / bare (wall time); its 90% interval (in "
            "the goal) is a bootstrap over the rounds; CPU = this process's CPU time (all "
            "threads), less sensitive to other processes on the machine.",
        ],
    )
    for name in cast(list[BackendName], ctx.backends()):
        async with open_backend(ctx, name) as backend:
            assert backend.stores.store is not None
            samples = await interleaved(
                _variants(backend.url, backend.checkpointer, backend.stores.store),
                runs=runs,
                warmup=ctx.scale.warmup,
            )
        bare, kit = Summary.of(samples["bare"].wall), Summary.of(samples["waypoint"].wall)
        bare_cpu = Summary.of(samples["bare"].cpu)
        kit_cpu = Summary.of(samples["waypoint"].cpu)
        slowdown = paired_ratio(samples["waypoint"].wall, samples["bare"].wall)
        low, high = ratio_interval(samples["waypoint"].wall, samples["bare"].wall)
        for variant, found in samples.items():
            wall, cpu = Summary.of(found.wall), Summary.of(found.cpu)
            versus = paired_ratio(found.wall, samples["bare"].wall)
            section.rows.append(
                {
                    "saver": name,
                    "variant": variant,
                    "median ms": ms(wall.median),
                    "p10-p90 ms": spread(wall),
                    "CPU ms": ms(cpu.median),
                    "vs bare": f"{versus:.2f}x",
                }
            )
            section.data[f"{name}/{variant}"] = wall.median
            section.data[f"{name}/{variant}_cpu"] = cpu.median
        section.goals.append(
            Goal(
                name=f"research 6-way fan-out, Waypoint vs bare, {name}",
                ratio=slowdown,
                bound=BOUND,
                direction="<=",
                detail=f"median {ms(kit.median)} ms vs {ms(bare.median)} ms "
                f"(ratio's 90% interval {low:.2f}-{high:.2f}x); "
                f"CPU {ms(kit_cpu.median)} ms vs {ms(bare_cpu.median)} ms",
                profile=_profile(ctx, name, max(4, ctx.scale.profile_runs // 3)),
            )
        )
    if ctx.pg_url is None:
        section.notes.append(f"No Postgres rows: {ctx.pg_problem}")
    return section

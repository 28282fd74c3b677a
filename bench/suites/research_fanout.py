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
from bench.timing import Operation, interleaved, paired_ratio
from state.research import ResearchContext
from waypoint.runner import start_run

BOUND = 1.15
"""Goal of issue #16: a 6-way fan-out run at most 15% slower than bare LangGraph."""


def _variants(url: str, checkpointer: Any, store: Any) -> dict[str, Operation]:
    bare_graph = compile_bare(checkpointer, store)
    context = ResearchContext(**CONTEXT)

    async def bare(_: int) -> object:
        config = {"configurable": {"thread_id": f"bare-{uuid.uuid4().hex}"}}
        out = await bare_graph.ainvoke(INPUT, config, context=context, durability="sync")
        assert out["outcome"] == "accepted", out
        return out

    async def kit(_: int) -> object:
        report = await start_run("research", INPUT, db_url=url, context=CONTEXT)
        assert report.status == "completed", report
        return report

    return {"bare": bare, "waypoint": kit}


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
    runs = max(6, ctx.scale.runs // 4)  # each run is ~0.5 s of six agent loops
    section = Section(
        title="research: a 6-way fan-out run, Waypoint vs bare LangGraph (same saver, sync)",
        columns=["saver", "variant", "median ms", "p10-p90 ms", "CPU ms", "vs bare"],
        notes=[
            f"{runs} runs per variant after {ctx.scale.warmup} warm-up, interleaved; the question "
            "names five stdlib names, so `plan` sends six research tasks (depth 2, memory off).",
            "bare = the same nodes, subgraph and edges compiled on the saver and Store and "
            "invoked (no error handlers, retry policies or runner); waypoint = `start_run` "
            "(ledger rows, guards, kill switch, thread lock and index, failure ladders).",
            "vs bare = median over rounds of waypoint / bare (wall time); CPU = this process's "
            "CPU time (all threads), less sensitive to other processes on the machine.",
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
        for variant, summary, cpu, versus in (
            ("bare", bare, bare_cpu, "1.00x"),
            ("waypoint", kit, kit_cpu, f"{slowdown:.2f}x"),
        ):
            section.rows.append(
                {
                    "saver": name,
                    "variant": variant,
                    "median ms": ms(summary.median),
                    "p10-p90 ms": spread(summary),
                    "CPU ms": ms(cpu.median),
                    "vs bare": versus,
                }
            )
        section.data[f"{name}/bare"] = bare.median
        section.data[f"{name}/waypoint"] = kit.median
        section.data[f"{name}/bare_cpu"] = bare_cpu.median
        section.data[f"{name}/waypoint_cpu"] = kit_cpu.median
        section.goals.append(
            Goal(
                name=f"research 6-way fan-out, Waypoint vs bare, {name}",
                ratio=slowdown,
                bound=BOUND,
                direction="<=",
                detail=f"median {ms(kit.median)} ms vs {ms(bare.median)} ms; "
                f"CPU {ms(kit_cpu.median)} ms vs {ms(bare_cpu.median)} ms",
                profile=_profile(ctx, name, max(4, ctx.scale.profile_runs // 3)),
            )
        )
    if ctx.pg_url is None:
        section.notes.append(f"No Postgres rows: {ctx.pg_problem}")
    return section

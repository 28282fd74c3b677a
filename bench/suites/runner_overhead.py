"""What `start_run` adds to a graph run, stage by stage, measured directly.

`start_run` opens the stores, compiles the graph, takes the thread lock, reads the checkpoint
and the thread index, runs the graph through `waypoint.runner.execute` (ledger rows and guard
checks per node, rows settled after), reads the end state and updates the index. Each public stage
is timed on its own here, interleaved with whole `start_run` calls and plain graph runs, so the
runner's overhead can be split without a profiler's distortion. The row `served.copy(saver)`
is the reference for `Workflow.compile`: the served graph with the saver swapped in
(`Pregel.copy`, what `with_config` does internally); since a96c160 `Workflow.compile` is exactly
that, and before it rebuilt and recompiled the graph (≈17 ms per command).
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import cast

from langchain_core.runnables import RunnableConfig

from bench.context import BenchContext
from bench.cpu import percent
from bench.drivers import (
    GRAPH,
    Backend,
    BackendName,
    Graph,
    graph_run,
    open_backend,
    runner_run,
    thread_config,
)
from bench.registry import Section, benchmark
from bench.stats import Summary, ms, safe_ratio, spread
from bench.tickets import auto_refund, unique
from bench.timing import Operation, interleaved
from state.support import SupportContext
from waypoint import runner
from waypoint.persistence.stores import open_stores
from waypoint.persistence.thread_lock import hold_thread
from waypoint.workflows import load_workflow

START_RUN = "start_run (whole)"
GRAPH_RUN = "graph run (Waypoint graph)"
EXECUTE = "runner.execute (graph run + ledger + guards)"
LEDGER = "ledger and guards (execute - graph run)"
COMPILE = "Workflow.compile(saver)"
COPY = "served.copy(saver) (reference)"
OPEN = "open_stores + close (inside open stores: reused)"
FRESH = "open_stores + close, fresh (once per CLI command)"
LOCK = "hold_thread (take + release)"
READS = "aget_tuple + aget_state"
REST = "rest (thread index rows, validation, ...)"


def _stages(backend: Backend, graph: Graph, finished: str) -> dict[str, Operation]:
    """One operation per stage; `finished` is a completed thread to read back."""
    workflow = load_workflow("support")
    saver = backend.checkpointer

    async def start(_: int) -> object:
        return await runner_run(backend.url, "sync")

    async def run(_: int) -> object:
        return await graph_run(graph, "sync")

    async def execute(_: int) -> object:
        config: RunnableConfig = {
            "configurable": {"thread_id": unique("bench"), "waypoint_actor": "bench"}
        }
        await runner.execute(
            backend.stores, workflow, graph, auto_refund(), config, SupportContext()
        )
        return None

    async def compile_(_: int) -> object:
        return workflow.compile(saver)

    async def copy(_: int) -> object:
        return workflow.served.copy(update={"checkpointer": saver})

    async def open_(_: int) -> object:
        async with open_stores(backend.url) as stores:
            return stores

    async def fresh(_: int) -> object:
        # a new context has no open stores to reuse: what a new process pays
        return await asyncio.create_task(open_(0), context=contextvars.Context())

    async def lock(_: int) -> object:
        async with hold_thread(backend.stores.url, backend.stores.db, unique("lock")):
            return None

    async def reads(_: int) -> object:
        await saver.aget_tuple(thread_config(finished))
        return await graph.aget_state(thread_config(finished))

    return {
        START_RUN: start,
        GRAPH_RUN: run,
        EXECUTE: execute,
        COMPILE: compile_,
        OPEN: open_,
        FRESH: fresh,
        LOCK: lock,
        READS: reads,
        COPY: copy,
    }


@benchmark("runner-overhead", order=15)
async def runner_overhead(ctx: BenchContext) -> Section:
    section = Section(
        title="what start_run adds to a graph run (auto-refund, durability sync)",
        columns=["saver", "stage", "median ms", "p10-p90 ms", "share of start_run"],
        notes=[
            f"{ctx.scale.runs} timings per stage after {ctx.scale.warmup} warm-up, all stages "
            "interleaved. ledger and guards = runner.execute - graph run; rest = "
            "start_run - runner.execute - compile - stores - lock - reads; `served.copy(saver)` "
            "is what Workflow.compile should cost (it rebuilt the graph, ≈17 ms, before a96c160).",
            "start_run runs inside the stores the benchmark holds open, so it reuses them, as a "
            "long-lived process does (`open_stores` reuses the stores open for the same URL); "
            "the `fresh` row is what one CLI command pays once (a new pool or connection; saver "
            "setup and migrations skipped when already applied).",
        ],
    )
    for name in cast(list[BackendName], ctx.backends()):
        async with open_backend(ctx, name) as backend:
            graph = backend.graph(GRAPH)
            finished = await graph_run(graph, "sync")

            ops = _stages(backend, graph, finished)
            samples = await interleaved(ops, runs=ctx.scale.runs, warmup=ctx.scale.warmup)
        medians = {stage: Summary.of(s.wall) for stage, s in samples.items()}
        whole = medians[START_RUN].median
        derived = {
            LEDGER: medians[EXECUTE].median - medians[GRAPH_RUN].median,
            REST: whole - sum(medians[p].median for p in (EXECUTE, COMPILE, OPEN, LOCK, READS)),
        }
        for stage in (
            START_RUN,
            GRAPH_RUN,
            LEDGER,
            COMPILE,
            OPEN,
            LOCK,
            READS,
            REST,
            COPY,
            FRESH,
        ):
            summary = medians.get(stage)
            median = summary.median if summary is not None else derived[stage]
            section.rows.append(
                {
                    "saver": name,
                    "stage": stage,
                    "median ms": ms(median),
                    "p10-p90 ms": spread(summary) if summary is not None else "-",
                    "share of start_run": percent(safe_ratio(median, whole))
                    if stage not in (COPY, FRESH)
                    else "-",
                }
            )
            section.data[f"{name}/{stage}"] = median
    if ctx.pg_url is None:
        section.notes.append(f"No Postgres rows: {ctx.pg_problem}")
    return section

"""Time travel on a long thread, and what `prune` reclaims (issue: time-travel debugging).

A completed support thread is grown to 1,000 checkpoints with `update_state` (written as
`execute`, so nothing is re-routed). Then, on the same saver: `waypoint history` (the whole
command function, stores opened and closed each time) against LangGraph's bare
`aget_state_history` and against the saver's bare `alist` (what `aget_state_history` reads
before building snapshots), `waypoint history --limit 20`, and `waypoint diff` of the first and
last checkpoints against two bare `aget_state` reads. Last, the checkpoint rows and bytes of one
ordinary run before and after `prune`.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from bench.context import BenchContext
from bench.drivers import BackendName, open_backend, thread_config
from bench.goals import Goal
from bench.registry import Section, benchmark
from bench.stats import Summary, ms, safe_ratio, spread
from bench.tickets import auto_refund
from bench.timing import Operation, interleaved
from waypoint.admission import trusted
from waypoint.retention import prune
from waypoint.runner import start_run
from waypoint.timetravel import diff_checkpoints, thread_history
from waypoint.workflows import load_workflow

CHECKPOINTS = 1_000
HISTORY_GOAL_MS = 100.0
LIMIT = 20


@benchmark("history", order=60)
async def history_benchmark(ctx: BenchContext) -> Section:
    section = Section(
        title=f"time travel on a {CHECKPOINTS:,}-checkpoint thread; rows and bytes around prune",
        columns=["saver", "operation", "variant", "median ms", "p10-p90 ms", "waypoint ÷ this"],
        notes=[
            f"{ctx.scale.runs} timed calls per variant after {ctx.scale.warmup} warm-up, "
            "interleaved; `waypoint` rows are the command functions (open the stores, read the "
            "thread index, build the rows, close); bare rows use the already-open saver and "
            "graph. `waypoint ÷ this`: the `waypoint` median over this row's median.",
            "prune: one completed auto-refund run, `prune(keep_last=1)`; rows are checkpoints, "
            "writes and (Postgres) blobs of that thread.",
        ],
    )
    for name in cast(list[BackendName], [b for b in ctx.backends() if b != "memory"]):
        await _measure(ctx, name, section)
    return section


async def _measure(ctx: BenchContext, name: BackendName, section: Section) -> None:
    """The rows of one saver."""
    async with open_backend(ctx, name) as backend:
        thread = f"bench-history-{uuid.uuid4().hex[:8]}"
        await start_run("support", auto_refund(), thread_id=thread, db_url=backend.url)
        graph = load_workflow("support").compile(backend.checkpointer)
        config: Any = thread_config(thread)
        snapshots = [s async for s in graph.aget_state_history(config)]
        with trusted():  # the notes go in a protected field: the bench writes as the kit
            for index in range(CHECKPOINTS - len(snapshots)):
                await graph.aupdate_state(
                    config, {"reviewer_feedback": [f"note {index}"]}, as_node="execute"
                )
        ids = [
            s.config["configurable"]["checkpoint_id"]
            async for s in graph.aget_state_history(config)
        ]
        first, last = ids[-1], ids[0]

        async def waypoint_history(_: int) -> object:
            return await thread_history(thread, db_url=backend.url)

        async def waypoint_history_limited(_: int) -> object:
            return await thread_history(thread, db_url=backend.url, limit=LIMIT)

        async def bare_history(_: int) -> object:
            return [s async for s in graph.aget_state_history(config)]

        async def bare_alist(_: int) -> object:
            saver = backend.checkpointer
            return [
                t
                async for t in saver.alist(
                    {"configurable": {**config["configurable"], "checkpoint_ns": ""}}
                )
            ]

        async def waypoint_diff(_: int) -> object:
            return await diff_checkpoints(thread, first, last, db_url=backend.url)

        async def bare_diff(_: int) -> object:
            a = await graph.aget_state(
                {"configurable": {**config["configurable"], "checkpoint_id": first}}
            )
            b = await graph.aget_state(
                {"configurable": {**config["configurable"], "checkpoint_id": last}}
            )
            return a.values, b.values

        operations: list[tuple[str, dict[str, Operation]]] = [
            (
                "history",
                {
                    "waypoint": waypoint_history,
                    "bare aget_state_history": bare_history,
                    "bare saver.alist": bare_alist,
                },
            ),
            (f"history --limit {LIMIT}", {"waypoint": waypoint_history_limited}),
            ("diff first..last", {"waypoint": waypoint_diff, "bare aget_state, twice": bare_diff}),
        ]
        for operation, variants in operations:
            samples = await interleaved(variants, runs=ctx.scale.runs, warmup=ctx.scale.warmup)
            summaries = {variant: Summary.of(samples[variant].wall) for variant in variants}
            ours = summaries["waypoint"]
            for variant, summary in summaries.items():
                section.rows.append(
                    {
                        "saver": name,
                        "operation": operation,
                        "variant": variant,
                        "median ms": ms(summary.median),
                        "p10-p90 ms": spread(summary),
                        "waypoint ÷ this": f"{safe_ratio(ours.median, summary.median):.2f}x",
                    }
                )
            section.data[f"{name}.{operation}"] = {v: s.as_dict() for v, s in summaries.items()}
            if operation == "history" and name == "postgres":
                bare = summaries["bare aget_state_history"]
                section.goals.append(
                    Goal(
                        name=f"history of {CHECKPOINTS:,} checkpoints on Postgres vs 100 ms",
                        ratio=ours.median * 1000 / HISTORY_GOAL_MS,
                        bound=1.0,
                        direction="<=",
                        detail=f"median {ms(ours.median)} ms (bare aget_state_history "
                        f"{ms(bare.median)} ms)",
                    )
                )

        done = await start_run("support", auto_refund(), db_url=backend.url)
        report = await prune(db_url=backend.url, thread_id=done.thread_id)
        section.rows.append(
            {
                "saver": name,
                "operation": "prune one run",
                "variant": "rows",
                "median ms": f"{report.rows_before} → {report.rows_after}",
                "p10-p90 ms": "",
                "waypoint ÷ this": "",
            }
        )
        section.rows.append(
            {
                "saver": name,
                "operation": "prune one run",
                "variant": "bytes",
                "median ms": f"{report.bytes_before} → {report.bytes_after}",
                "p10-p90 ms": "",
                "waypoint ÷ this": "",
            }
        )
        section.data[f"{name}.prune"] = report.as_json()

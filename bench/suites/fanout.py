"""A `Send` fan-out under the kit against bare LangGraph, on the same saver (issue: any shape).

`bench/graphs/fanout.py` is plain LangGraph: `plan` sends `FANOUT` `work` tasks, `join` sums
them. Bare: the graph compiled on the backend's saver, invoked. Waypoint: the same graph as the
kit serves it (`serve(equip(graph))`, loaded from `bench/graphs/langgraph.json`) compiled on the
same saver and run through `runner.execute`: a ledger row, guard checks and the kill switch for
each of the N tasks, as `waypoint run` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from langchain_core.runnables import RunnableConfig

from bench.context import BenchContext
from bench.drivers import BackendName, open_backend
from bench.goals import Goal
from bench.graphs.fanout import FanoutState, build
from bench.registry import Section, benchmark
from bench.stats import Summary, ms, spread
from bench.tickets import unique
from bench.timing import Operation, interleaved, paired_ratio
from waypoint import runner
from waypoint.workflows import _load_from

FANOUT = 50
FANOUT_BOUND = 1.15
GRAPHS = Path(__file__).resolve().parent.parent / "graphs" / "langgraph.json"


def _variants(backend: Any, width: int) -> dict[str, Operation]:
    workflow = _load_from(GRAPHS, "fanout")
    kit_graph = workflow.compile(backend.checkpointer)
    bare_graph = build().compile(checkpointer=backend.checkpointer, name="fanout")
    context = runner.validate_context(workflow, None)
    items: FanoutState = {"items": list(range(width))}

    def config(prefix: str) -> RunnableConfig:
        return {"configurable": {"thread_id": unique(prefix), "waypoint_actor": "bench"}}

    async def bare(_: int) -> object:
        done = await bare_graph.ainvoke(items, config("bare"), durability="sync")
        assert done.get("total") == width * (width - 1)
        return done

    async def kit(_: int) -> object:
        run_config = config("kit")
        await runner.execute(backend.stores, workflow, kit_graph, items, run_config, context)
        state = await kit_graph.aget_state(run_config)
        assert state.values["total"] == width * (width - 1), state.values
        return state

    return {"bare": bare, "waypoint": kit}


@benchmark("fanout", order=16)
async def fanout(ctx: BenchContext) -> Section:
    """A 50-task `Send` fan-out: Waypoint (ledger and guards per task) vs bare LangGraph."""
    section = Section(
        title=f"Send fan-out of {FANOUT} tasks: Waypoint vs bare LangGraph (same saver, sync)",
        columns=["saver", "variant", "median ms", "p10-p90 ms", "per task ms", "vs bare"],
        notes=[
            f"{ctx.scale.runs} runs per variant after {ctx.scale.warmup} warm-up, interleaved; "
            "bare = `bench/graphs/fanout.py` compiled on the saver and invoked; waypoint = the "
            "kit's served copy of it through `runner.execute` (a ledger row, guard checks and "
            "the kill switch per task); vs bare = median over rounds of waypoint / bare.",
            f"per task = (waypoint - bare) / {FANOUT}.",
        ],
    )
    for name in cast(list[BackendName], ctx.backends()):
        if name == "memory":
            continue
        async with open_backend(ctx, name) as backend:
            samples = await interleaved(
                _variants(backend, FANOUT), runs=ctx.scale.runs, warmup=ctx.scale.warmup
            )
        bare, kit = Summary.of(samples["bare"].wall), Summary.of(samples["waypoint"].wall)
        slowdown = paired_ratio(samples["waypoint"].wall, samples["bare"].wall)
        per_task = (kit.median - bare.median) / FANOUT
        for variant, summary, task_ms, versus in (
            ("bare", bare, "-", "1.00x"),
            ("waypoint", kit, ms(per_task), f"{slowdown:.2f}x"),
        ):
            section.rows.append(
                {
                    "saver": name,
                    "variant": variant,
                    "median ms": ms(summary.median),
                    "p10-p90 ms": spread(summary),
                    "per task ms": task_ms,
                    "vs bare": versus,
                }
            )
        section.data[f"{name}/bare"] = bare.median
        section.data[f"{name}/waypoint"] = kit.median
        section.goals.append(
            Goal(
                name=f"fan-out of {FANOUT}, Waypoint vs bare, {name}",
                ratio=slowdown,
                bound=FANOUT_BOUND,
                direction="<=",
                detail=f"median {ms(kit.median)} ms vs {ms(bare.median)} ms; "
                f"{ms(per_task)} ms per task",
            )
        )
    if ctx.pg_url is None:
        section.notes.append(f"No Postgres rows: {ctx.pg_problem}")
    return section

"""A 6-way fan-out `research` run: Waypoint's runner against bare LangGraph, same saver and Store.

    .venv/bin/python -m bench.research_fanout [DB_URL] [RUNS]

A quick look from the command line: it prints the medians and their ratio, measured
interleaved in one process. The suite `research-fanout` of `python -m bench`
(`bench/suites/research_fanout.py`) measures the same runs for the record, with CPU time, the
goal of issue #16 (<= 1.15x) and a profile when it is missed.

Waypoint: `start_run` inside open stores (ledger, guards, kill switch, thread lock and index,
the failure ladders). Bare: the same state, nodes, subgraph and edges (`add_edges`,
`add_task_edges`) with no error handler or retry policy, compiled with the same saver and Store
and invoked directly. Memory is off, so every run researches all six sub-questions.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid
from typing import Any

INPUT: dict[str, Any] = {
    "question": "How do json.dumps, pickle.dumps, csv.writer, shutil.copyfile and "
    "pathlib.Path.write_text store data?",
    "max_sub_questions": 6,
    "depth": 2,
}
CONTEXT: dict[str, Any] = {"use_memory": False}


def compile_bare(checkpointer: Any, store: Any) -> Any:
    """`research` wired with bare LangGraph: nodes and edges, nothing else."""
    from langgraph.graph import StateGraph

    from graphs.research import TASK_NODES, add_edges, add_task_edges
    from nodes.research.gate import quality_gate
    from nodes.research.plan import plan
    from nodes.research.review import review
    from nodes.research.synthesise import synthesise
    from state.research import (
        ResearchContext,
        ResearchInput,
        ResearchOutput,
        ResearchState,
        TaskInput,
        TaskOutput,
        TaskState,
    )

    task = StateGraph(
        TaskState, context_schema=ResearchContext, input_schema=TaskInput, output_schema=TaskOutput
    )
    for name, action in TASK_NODES.items():
        task.add_node(name, action)
    add_task_edges(task)
    builder = StateGraph(
        ResearchState,
        context_schema=ResearchContext,
        input_schema=ResearchInput,
        output_schema=ResearchOutput,
    )
    nodes: dict[str, Any] = {
        "plan": plan,
        "research": task.compile(),
        "synthesise": synthesise,
        "quality_gate": quality_gate,
        "review": review,
    }
    for name, action in nodes.items():
        builder.add_node(name, action)
    add_edges(builder)
    return builder.compile(checkpointer=checkpointer, store=store, name="research-bare")


async def measure(url: str, runs: int) -> tuple[float, float]:
    """Median seconds of a Waypoint run and of a bare run (interleaved, after one warm-up)."""
    from state.research import ResearchContext
    from waypoint.persistence.stores import open_stores
    from waypoint.runner import start_run

    context = ResearchContext(**CONTEXT)
    async with open_stores(url) as stores:
        bare = compile_bare(stores.checkpointer, stores.store)

        async def bare_run() -> None:
            config = {"configurable": {"thread_id": f"bare-{uuid.uuid4().hex}"}}
            out = await bare.ainvoke(INPUT, config, context=context, durability="sync")
            assert out["outcome"] == "accepted"

        async def waypoint_run() -> None:
            report = await start_run("research", INPUT, db_url=url, context=CONTEXT)
            assert report.status == "completed"

        await waypoint_run()
        await bare_run()
        waypoint: list[float] = []
        plain: list[float] = []
        for _ in range(runs):
            for run, into in ((waypoint_run, waypoint), (bare_run, plain)):
                started = time.perf_counter()
                await run()
                into.append(time.perf_counter() - started)
    return statistics.median(waypoint), statistics.median(plain)


def main() -> int:
    """Print the medians and the ratio."""
    os.environ.setdefault("LANGGRAPH_STRICT_MSGPACK", "true")
    url = sys.argv[1] if len(sys.argv) > 1 else "sqlite:///.waypoint/bench-research.sqlite"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    waypoint, bare = asyncio.run(measure(url, runs))
    kind = url.split(":", 1)[0]
    sys.stdout.write(
        f"research 6-way fan-out on {kind}: waypoint {waypoint * 1000:.0f} ms, "
        f"bare {bare * 1000:.0f} ms, ratio {waypoint / bare:.2f}x (median of {runs})\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where a `research` run's cost over bare LangGraph goes: the recorder's parts turned off.

    .venv/bin/python -m bench.research_ablation [DB_URL] [RUNS]

Interleaved in one process against bare LangGraph (`bench.research_fanout.compile_bare`), on the
same saver and Store, each variant a `start_run` of the 6-way fan-out:

- `waypoint`: as built;
- `rows at end`: no round trip as a node starts (its row is kept and written when the run
  ends, the kill switch is not read): what the row-before-body rule costs;
- `recorder idle`: the recorder's node callbacks return at once (no rows, digests, guards):
  what is left is the runner, the thread lock and index, and LangChain's callback dispatch.

The two last variants break guarantees on purpose, by replacing `LedgerRecorder` methods in
this process only; they are measurements, never a mode of Waypoint. Printed: each variant's
median ratio to bare over the rounds, its 90% bootstrap interval, and the CPU ratio.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from bench.research_fanout import CONTEXT, INPUT, compile_bare
from bench.timing import Operation, interleaved, paired_ratio, ratio_interval

VARIANTS = ("waypoint", "rows at end", "recorder idle")


def _switchable() -> dict[str, str]:
    """Make the recorder's parts switchable by variant; the switch (set before each run)."""
    from waypoint.ledger import LedgerRecorder

    switch = {"variant": "waypoint"}
    check, start, end = (
        LedgerRecorder._rows_and_kill_check,
        LedgerRecorder.on_chain_start,
        LedgerRecorder.on_chain_end,
    )

    async def rows_and_kill_check(self: LedgerRecorder) -> list[Any]:
        return [] if switch["variant"] == "rows at end" else await check(self)

    def idle_unless_built(
        method: Callable[..., Awaitable[None]],
    ) -> Callable[..., Awaitable[None]]:
        async def callback(self: LedgerRecorder, *args: Any, **kwargs: Any) -> None:
            if switch["variant"] != "recorder idle":
                await method(self, *args, **kwargs)

        return callback

    LedgerRecorder._rows_and_kill_check = rows_and_kill_check  # type: ignore[method-assign]
    LedgerRecorder.on_chain_start = idle_unless_built(start)  # type: ignore[method-assign,assignment]
    LedgerRecorder.on_chain_end = idle_unless_built(end)  # type: ignore[method-assign,assignment]
    return switch


async def measure(url: str, runs: int) -> list[str]:
    """One line per variant: its ratio to bare, the interval, the CPU ratio."""
    from state.research import ResearchContext
    from waypoint.persistence.stores import open_stores
    from waypoint.runner import start_run
    from waypoint.workflows import load_workflow

    switch = _switchable()
    context = ResearchContext(**CONTEXT)
    load_workflow("research")
    async with open_stores(url) as stores:
        bare_graph = compile_bare(stores.checkpointer, stores.store)

        async def bare(_: int) -> object:
            config = {"configurable": {"thread_id": f"bare-{uuid.uuid4().hex}"}}
            return await bare_graph.ainvoke(INPUT, config, context=context, durability="sync")

        def variant(name: str) -> Operation:
            async def run(_: int) -> object:
                switch["variant"] = name
                report = await start_run("research", INPUT, db_url=url, context=CONTEXT)
                assert report.status == "completed", report
                return report

            return run

        operations: dict[str, Operation] = {"bare": bare}
        operations.update({name: variant(name) for name in VARIANTS})
        samples = await interleaved(operations, runs=runs, warmup=3)
    base = samples["bare"]
    lines = []
    for name in VARIANTS:
        low, high = ratio_interval(samples[name].wall, base.wall)
        lines.append(
            f"  {name:14s} {paired_ratio(samples[name].wall, base.wall):.2f}x "
            f"(90% interval {low:.2f}-{high:.2f}x), CPU "
            f"{paired_ratio(samples[name].cpu, base.cpu):.2f}x"
        )
    return lines


def main() -> int:
    """Print each variant's ratio to bare."""
    os.environ.setdefault("LANGGRAPH_STRICT_MSGPACK", "true")
    url = sys.argv[1] if len(sys.argv) > 1 else "sqlite:///.waypoint/bench-ablation.sqlite"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    lines = asyncio.run(measure(url, runs))
    kind = url.split(":", 1)[0]
    sys.stdout.write(f"research 6-way fan-out on {kind}, {runs} rounds, vs bare:\n")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A worker process for the multi-process benchmark: auto-refund runs in timed windows.

`python -m bench.worker --url URL --variant graph|bare --in-flight N` opens the stores, warms
up and prints `ready`. Then, for each line `SECONDS` on stdin, it runs for that long with N runs
in flight and prints one JSON line with what it did; `stop` (or end of input) ends it. Workers
stay up between windows, so a window measures runs, not interpreter start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

from bench.bare_graph import compile_bare
from bench.drivers import Graph, graph_run
from bench.tickets import keep_orders_refundable
from waypoint.persistence.stores import open_stores
from waypoint.workflows import load_workflow


async def window(graph: Graph, in_flight: int, seconds: float) -> dict[str, Any]:
    """Run until the deadline; return runs, elapsed seconds, CPU seconds and latencies."""
    latencies: list[float] = []
    start = time.perf_counter()
    cpu_start = time.process_time()
    deadline = start + seconds
    who = f"worker {os.getpid()}"

    async def loop() -> None:
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            await graph_run(graph, "sync", who=who)
            latencies.append(time.perf_counter() - began)

    await asyncio.gather(*(loop() for _ in range(in_flight)))
    return {
        "runs": len(latencies),
        "elapsed": time.perf_counter() - start,
        "cpu": time.process_time() - cpu_start,
        "latencies": latencies,
    }


async def serve(url: str, variant: str, in_flight: int, warmup: int) -> None:
    """Open the stores, warm up, then run one window per line on stdin."""
    load_workflow("support")  # its tables (the demo CRM) are created when the stores open
    async with open_stores(url) as stores:
        await keep_orders_refundable(stores.db)
        graph: Graph = (
            load_workflow("support").compile(stores.checkpointer)
            if variant == "graph"
            else compile_bare(stores.checkpointer)
        )
        for _ in range(warmup):
            await graph_run(graph, "sync", who=f"worker {os.getpid()}")
        print("ready", flush=True)
        while True:
            line = (await asyncio.to_thread(sys.stdin.readline)).strip()
            if not line or line == "stop":
                return
            result = await window(graph, in_flight, float(line))
            print(json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("--url", required=True)
    parser.add_argument("--variant", choices=["graph", "bare"], default="graph")
    parser.add_argument("--in-flight", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(serve(args.url, args.variant, args.in_flight, args.warmup))


if __name__ == "__main__":
    main()

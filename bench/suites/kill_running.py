"""Kills that land while nodes run (issue #19): one thread inside a 10 s call, and a graph kill.

The slow call: the support workflow's `crm_lookup` capability routed to a provider that waits
10 s before answering as the offline one does (a stand-in for a slow model call), so `lookup`
is inside a capability call when the kill lands. The kill is the database write `waypoint kill`
makes (`request_kill`, `request_scope_kill`); the run learns of it through the kill watcher's
poll (`waypoint.kill_watch`), cancels the node and records the halt.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

from bench.context import BenchContext
from bench.drivers import Backend, BackendName, BenchError, open_backend
from bench.goals import Goal
from bench.registry import Section, benchmark
from bench.stats import Summary, ms, spread
from bench.tickets import auto_refund, needs_approval, unique
from nodes.support.capabilities import LookupRequest, lookup_crm
from state.support import LookupResult
from waypoint.capabilities import OfflineProvider, registry
from waypoint.kill import lift_scope_kill, request_kill, request_scope_kill
from waypoint.kill_watch import poll_seconds
from waypoint.runner import ThreadReport, start_run
from waypoint.workflows import load_workflow

SLOW_SECONDS = 10.0
ONE_BOUND_S = 1.0
GRAPH_BOUND_S = 5.0
CAPABILITY = "crm_lookup"
SLOW = "bench-slow-crm"
ROUTE_ENV = f"WAYPOINT_ROUTE_{CAPABILITY.upper()}"


class _SlowCalls:
    """Counts the runs inside the slow call."""

    def __init__(self) -> None:
        self.inside = 0

    async def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 120
        while self.inside < count:
            if time.monotonic() > deadline:
                raise BenchError(f"only {self.inside} of {count} runs reached the slow call")
            await asyncio.sleep(0.005)


@asynccontextmanager
async def _slow_lookup() -> AsyncIterator[_SlowCalls]:
    """Route `crm_lookup` to a provider that answers after `SLOW_SECONDS`."""
    load_workflow("support")
    calls = _SlowCalls()

    async def slow(request: LookupRequest) -> LookupResult:
        calls.inside += 1
        try:
            await asyncio.sleep(SLOW_SECONDS)
        finally:
            calls.inside -= 1
        return await lookup_crm(request)

    registry.add_provider(
        CAPABILITY,
        OfflineProvider(SLOW, "1", "Bench: the offline lookup after 10 s.", slow,
                        timeout_seconds=60),
    )  # fmt: skip
    before = os.environ.get(ROUTE_ENV)
    os.environ[ROUTE_ENV] = SLOW
    try:
        yield calls
    finally:
        if before is None:
            os.environ.pop(ROUTE_ENV, None)
        else:
            os.environ[ROUTE_ENV] = before


def _check_killed(report: ThreadReport, who: str) -> None:
    halt = report.values.get("halt") or {}
    if report.status != "halted" or halt.get("kind") != "kill" or halt.get("node") != "lookup":
        raise BenchError(f"{who}: {report.thread_id} ended {report.status}, halt={halt!r}")


async def _one(backend: Backend, calls: _SlowCalls) -> float:
    """Seconds from a thread kill's commit to the end of the run it cut short."""
    thread_id = unique("kill-one")
    run = asyncio.ensure_future(
        start_run("support", auto_refund(), thread_id=thread_id, db_url=backend.url)
    )
    await calls.wait_for(1)
    await request_kill(backend.stores.db, thread_id, "bench", "bench")
    committed = time.perf_counter()
    report = await run
    took = time.perf_counter() - committed
    _check_killed(report, "kill-running-node")
    return took


@benchmark("kill-running-node", order=19)
async def kill_running_node(ctx: BenchContext) -> Section:
    """Kill -> halt of a thread whose node is inside a 10 s call."""
    runs = 8 if ctx.quick else 30
    section = Section(
        title=f"kill -> halt of a thread inside a {SLOW_SECONDS:g} s call (worst of {runs})",
        columns=["saver", "median ms", "p10-p90 ms", "max ms", "n"],
        notes=[
            "Each run is `start_run` of an auto-refund ticket whose `lookup` node waits in a "
            f"{SLOW_SECONDS:g} s capability call; once it waits, `request_kill` (what `waypoint "
            "kill THREAD` writes) commits, and the time is taken from that commit to "
            "`start_run`'s return: the watcher's poll, the cancelled node, the halt recorded "
            "before `lookup` runs again, the thread index. Each run is checked to end halted "
            "by the kill at `lookup`.",
            f"Poll interval {poll_seconds():g} s (`WAYPOINT_KILL_POLL_SECONDS`): most of the "
            "figure is waiting for the next poll. In one process for precision; the kill from "
            "a second process is tested in tests/kit/test_kill_running_node.py.",
        ],
    )
    async with _slow_lookup() as calls:
        for name in cast(list[BackendName], ctx.backends()):
            async with open_backend(ctx, name) as backend:
                took = [await _one(backend, calls) for _ in range(runs)]
            summary = Summary.of(took)
            worst = max(took)
            section.rows.append(
                {
                    "saver": name,
                    "median ms": ms(summary.median),
                    "p10-p90 ms": spread(summary),
                    "max ms": ms(worst),
                    "n": str(len(took)),
                }
            )
            section.data[f"{name}/worst"] = worst
            section.goals.append(
                Goal(
                    name=f"kill -> halt inside a 10 s call (worst of {runs}), {name}",
                    ratio=worst / ONE_BOUND_S,
                    bound=1.0,
                    direction="<=",
                    detail=f"worst {ms(worst)} ms, median {ms(summary.median)} ms vs "
                    f"{ONE_BOUND_S * 1000:.0f} ms",
                )
            )
    if ctx.pg_url is None:
        section.notes.append(f"No Postgres rows: {ctx.pg_problem}")
    return section


async def _waiting(backend: Backend, count: int) -> None:
    """`count` threads waiting for approval (started a few at a time)."""
    for start in range(0, count, 8):

        async def one() -> None:
            report = await start_run("support", needs_approval(), db_url=backend.url)
            if report.status != "waiting":
                raise BenchError(f"kill-graph: {report.thread_id} ended {report.status}")

        await asyncio.gather(*(one() for _ in range(min(8, count - start))))


@benchmark("kill-graph", order=20)
async def kill_graph(ctx: BenchContext) -> Section:
    """A graph kill over 1,000 threads, waiting and running."""
    total, running = (100, 10) if ctx.quick else (1000, 50)
    section = Section(
        title=f"graph kill over {total} threads ({total - running} waiting, {running} running)",
        columns=["saver", "reached", "kill write ms", "kill -> all halted ms"],
        notes=[
            f"{total - running} support threads wait for approval; {running} more run at "
            f"once in this process, each inside a {SLOW_SECONDS:g} s `lookup` call. "
            "`request_scope_kill` (what `waypoint kill --graph support` writes) reaches them "
            "all: a thread kill per thread and the graph's scope kill, in one transaction. "
            "kill write = that transaction; kill -> all halted = from its start until every "
            "running thread has ended halted by the kill (each checked). A waiting thread "
            "halts when answered (tests/kit/test_kill_scopes.py).",
        ],
    )
    for name in cast(list[BackendName], ctx.backends()):
        async with open_backend(ctx, name) as backend:
            await _waiting(backend, total - running)  # before the slow route: they pass lookup
            async with _slow_lookup() as calls:
                runs = [
                    asyncio.ensure_future(start_run("support", auto_refund(), db_url=backend.url))
                    for _ in range(running)
                ]
                await calls.wait_for(running)
                started = time.perf_counter()
                try:
                    killed = await request_scope_kill(
                        backend.stores.db, "support", "bench", "bench"
                    )
                    written = time.perf_counter()
                    reports = await asyncio.gather(*runs)
                    halted = time.perf_counter()
                finally:
                    await lift_scope_kill(backend.stores.db, "support", "bench over", "bench")
            for report in reports:
                _check_killed(report, "kill-graph")
            counts = killed.counts()
            if counts["running"] < running or counts["waiting"] < total - running:
                raise BenchError(f"kill-graph: reached {counts}, expected {total} threads")
            section.rows.append(
                {
                    "saver": name,
                    "reached": ", ".join(f"{n} {status}" for status, n in counts.items()),
                    "kill write ms": ms(written - started),
                    "kill -> all halted ms": ms(halted - started),
                }
            )
            section.data[f"{name}/all_halted"] = halted - started
            section.goals.append(
                Goal(
                    name=f"graph kill over {total} threads -> all running halted, {name}",
                    ratio=(halted - started) / GRAPH_BOUND_S,
                    bound=1.0,
                    direction="<=",
                    detail=f"{ms(halted - started)} ms vs {GRAPH_BOUND_S * 1000:.0f} ms "
                    f"(the kill's write {ms(written - started)} ms)",
                )
            )
    if ctx.pg_url is None:
        section.notes.append(f"No Postgres rows: {ctx.pg_problem}")
    return section

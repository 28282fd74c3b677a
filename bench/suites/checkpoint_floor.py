"""One checkpoint write against the database's commit floor, on Postgres and SQLite.

The floor is a plain single-row INSERT and COMMIT loop through the same driver the saver uses
(psycopg async with the pool's connection settings; aiosqlite with the saver's pragmas). The
checkpoint writes replay a recorded auto-refund run: every checkpoint it wrote is written again
with `saver.aput` (to a fresh thread, with the channel versions that changed at that step), and
every task's writes with `saver.aput_writes`.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

import aiosqlite
import psycopg
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple

from bench.context import BenchContext
from bench.drivers import BARE, GRAPH, Backend, BackendName, graph_run, open_backend, thread_config
from bench.goals import Goal, ProfileTarget
from bench.registry import Section, benchmark
from bench.stats import Summary, ms, ratio, safe_ratio, spread
from bench.tickets import unique
from bench.timing import Operation, interleaved, repeat
from waypoint.persistence.sql import PostgresDatabase, postgres_connection_kwargs

FLOOR_BOUND = 3.0
"""Goal: one checkpoint write within 3x the database's commit floor."""
PAYLOAD = "x" * 200
_FLOOR_TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_floor (id INTEGER PRIMARY KEY{auto}, "
    "thread_id TEXT NOT NULL, payload TEXT NOT NULL)"
)


async def _postgres_floor(url: str, runs: int) -> list[float]:
    conn = await psycopg.AsyncConnection.connect(url, **postgres_connection_kwargs())
    try:
        await conn.execute(_FLOOR_TABLE.format(auto=" GENERATED ALWAYS AS IDENTITY"))

        async def insert(index: int) -> None:
            await conn.execute(
                "INSERT INTO bench_floor (thread_id, payload) VALUES (%s, %s)",
                (f"floor-{index}", PAYLOAD),
            )

        return (await repeat(insert, runs=runs, warmup=max(runs // 10, 5))).wall
    finally:
        await conn.close()


async def _sqlite_floor(path: str, runs: int) -> list[float]:
    conn = await aiosqlite.connect(path, timeout=30)
    try:
        await conn.execute("PRAGMA journal_mode=WAL")  # as the saver's connection (stores.py)
        await conn.execute("PRAGMA busy_timeout=30000")
        await conn.execute(_FLOOR_TABLE.format(auto=""))
        await conn.commit()

        async def insert(index: int) -> None:
            await conn.execute(
                "INSERT INTO bench_floor (thread_id, payload) VALUES (?, ?)",
                (f"floor-{index}", PAYLOAD),
            )
            await conn.commit()

        return (await repeat(insert, runs=runs, warmup=max(runs // 10, 5))).wall
    finally:
        await conn.close()


async def _fixed_costs(backend: Backend, runs: int) -> dict[str, list[float]]:
    """Costs every saver call pays before any write: a thread hop, a pooled round trip."""

    async def hop(_: int) -> None:
        await asyncio.to_thread(int)

    ops: dict[str, Operation] = {"asyncio.to_thread hop (serialisation runs there)": hop}
    if isinstance(backend.stores.db, PostgresDatabase):
        pool = backend.stores.db.pool

        async def round_trip(_: int) -> None:
            async with pool.connection() as conn:
                await conn.execute("SELECT 1")

        ops["pool checkout + SELECT 1 (no commit)"] = round_trip
    samples = await interleaved(ops, runs=runs, warmup=max(runs // 10, 5))
    return {name: s.wall for name, s in samples.items()}


async def _floor(ctx: BenchContext, backend: Backend) -> list[float]:
    if backend.name == "postgres":
        return await _postgres_floor(backend.url, ctx.scale.floor_ops)
    path = ctx.sqlite_url("floor").removeprefix("sqlite:///")
    return await _sqlite_floor(path, ctx.scale.floor_ops)


async def _recorded_run(backend: Backend) -> list[CheckpointTuple]:
    """The checkpoints (with their pending writes) of one auto-refund run, oldest first."""
    thread_id = await graph_run(backend.graph(BARE), "sync")
    tuples = [c async for c in backend.checkpointer.alist(thread_config(thread_id))]
    return tuples[::-1]


def _config(thread_id: str, checkpoint_id: str | None) -> RunnableConfig:
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


async def _replay_puts(
    saver: BaseCheckpointSaver[Any], recorded: list[CheckpointTuple], rounds: int
) -> tuple[list[float], list[float]]:
    """Write the recorded checkpoints and task writes again (to fresh threads).

    Returns:
        Seconds per `aput` call and per `aput_writes` call.
    """
    puts: list[float] = []
    writes: list[float] = []
    for _ in range(rounds):
        thread_id = unique("bench-replay")
        parent: str | None = None
        parent_versions: dict[str, Any] = {}
        for item in recorded:
            checkpoint = item.checkpoint
            versions = checkpoint["channel_versions"]
            changed = {k: v for k, v in versions.items() if parent_versions.get(k) != v}
            start = time.perf_counter()
            await saver.aput(_config(thread_id, parent), checkpoint, item.metadata, changed)
            puts.append(time.perf_counter() - start)
            by_task: dict[str, list[tuple[str, Any]]] = defaultdict(list)
            for task_id, channel, value in item.pending_writes or []:
                by_task[task_id].append((channel, value))
            for task_id, task_writes in by_task.items():
                start = time.perf_counter()
                await saver.aput_writes(_config(thread_id, checkpoint["id"]), task_writes, task_id)
                writes.append(time.perf_counter() - start)
            parent, parent_versions = checkpoint["id"], dict(versions)
    return puts, writes


async def _marginal(ctx: BenchContext, backend: Backend) -> dict[str, Summary]:
    """Run latency of the bare graph with durability sync and exit, interleaved."""
    graph = backend.graph(BARE)

    async def sync(_: int) -> str:
        return await graph_run(graph, "sync")

    async def exit_(_: int) -> str:
        return await graph_run(graph, "exit")

    samples = await interleaved(
        {"sync": sync, "exit": exit_}, runs=ctx.scale.runs, warmup=ctx.scale.warmup
    )
    return {k: Summary.of(v.wall) for k, v in samples.items()}


def _profile_aput(
    ctx: BenchContext, name: BackendName, recorded: list[CheckpointTuple]
) -> ProfileTarget:
    rounds = max(ctx.scale.checkpoint_rounds * 3, 10)

    @asynccontextmanager
    async def workload() -> AsyncIterator[Callable[[], Awaitable[int]]]:
        async with open_backend(ctx, name) as backend:
            await _replay_puts(backend.checkpointer, recorded, 1)

            async def run() -> int:
                puts, _ = await _replay_puts(backend.checkpointer, recorded, rounds)
                return len(puts)

            yield run

    return ProfileTarget(
        label=f"{name} saver.aput of recorded checkpoints ({rounds} rounds)",
        run=workload,
        focus=("aput",),
    )


@benchmark("checkpoint-floor", order=20)
async def checkpoint_floor(ctx: BenchContext) -> Section:
    section = Section(
        title="one checkpoint write vs the database's commit floor",
        columns=["database", "operation", "median ms", "p10-p90 ms", "n", "vs floor"],
        notes=[
            "floor = single-row INSERT + COMMIT (autocommit) through the saver's driver and "
            "connection settings; psycopg async on Postgres, aiosqlite (WAL) on SQLite.",
            "aput / aput_writes = the saver Waypoint opens (`open_stores`) writing back every "
            "checkpoint and task write of a recorded auto-refund run, to fresh threads.",
            "per checkpoint in a run = (median run with durability sync - median run with "
            "durability exit) / (checkpoints sync - checkpoints exit), bare LangGraph graph; "
            "run / checkpoints = median sync run / checkpoints it writes (an upper bound).",
        ],
    )
    for name in cast(list[BackendName], ctx.backends()):
        async with open_backend(ctx, name) as backend:
            floor = Summary.of(await _floor(ctx, backend))
            fixed = await _fixed_costs(backend, ctx.scale.floor_ops)
            recorded = await _recorded_run(backend)
            puts, writes = await _replay_puts(
                backend.checkpointer, recorded, ctx.scale.checkpoint_rounds
            )
            put, write = Summary.of(puts), Summary.of(writes)
            runs = await _marginal(ctx, backend)
            exit_id = await graph_run(backend.graph(GRAPH), "exit")
            exit_ckpts = len([c async for c in backend.checkpointer.alist(thread_config(exit_id))])
        sync_ckpts = len(recorded)
        marginal = (runs["sync"].median - runs["exit"].median) / max(sync_ckpts - exit_ckpts, 1)
        per_ckpt = runs["sync"].median / sync_ckpts
        rows: list[tuple[str, Summary | None, float]] = [
            ("INSERT + COMMIT (floor)", floor, floor.median),
            *((label, Summary.of(v), Summary.of(v).median) for label, v in fixed.items()),
            ("saver.aput (one checkpoint)", put, put.median),
            ("saver.aput_writes (one task)", write, write.median),
            ("per checkpoint in a run (marginal)", None, marginal),
            ("run / checkpoints", None, per_ckpt),
        ]
        for label, summary, median in rows:
            section.rows.append(
                {
                    "database": name,
                    "operation": label,
                    "median ms": ms(median),
                    "p10-p90 ms": spread(summary) if summary else "-",
                    "n": str(summary.n) if summary else str(ctx.scale.runs),
                    "vs floor": ratio(safe_ratio(median, floor.median)),
                }
            )
        section.data[name] = {
            "floor": floor.as_dict(),
            "aput": put.as_dict(),
            "aput_writes": write.as_dict(),
            "run_sync": runs["sync"].as_dict(),
            "run_exit": runs["exit"].as_dict(),
            "checkpoints_sync": sync_ckpts,
            "checkpoints_exit": exit_ckpts,
            "marginal_s": marginal,
        }
        section.goals.append(
            Goal(
                name=f"one checkpoint write (aput) vs commit floor, {name}",
                ratio=safe_ratio(put.median, floor.median),
                bound=FLOOR_BOUND,
                direction="<=",
                detail=f"{ms(put.median)} ms vs {ms(floor.median)} ms (median)",
                profile=_profile_aput(ctx, name, recorded),
            )
        )
    if ctx.pg_url is None:
        section.notes.append(f"No Postgres rows: {ctx.pg_problem}")
    return section

"""How each variant runs a ticket, on each backend, doing the same work.

Variants:
- `waypoint runner`: `waypoint.runner.start_run` / `resume_thread`, the path the command line
  takes (opens the stores, holds the thread lock, keeps the thread index, reads the end state).
- `waypoint graph`: `load_workflow("support").compile(saver)` invoked directly (node policies,
  error handler), inside an already open `open_stores`.
- `bare langgraph`: `bench.bare_graph` (same nodes and edges, nothing else), same saver, same
  `open_stores`.

Backends: `memory` (InMemorySaver; side effects in an SQLite file, since `execute` must write
them somewhere), `sqlite` (AsyncSqliteSaver) and `postgres` (AsyncPostgresSaver). Both graph
variants run inside the same `open_stores(url)`, which sets the database `execute` writes to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, Durability

from bench.bare_graph import compile_bare
from bench.context import BenchContext
from bench.tickets import APPROVE, auto_refund, keep_orders_refundable, needs_approval, unique
from state.support import SupportContext
from waypoint.persistence.stores import Stores, open_stores
from waypoint.runner import resume_thread, start_run
from waypoint.workflows import load_workflow

BackendName = Literal["memory", "sqlite", "postgres"]
RUNNER = "waypoint runner"
GRAPH = "waypoint graph"
BARE = "bare langgraph"
VARIANTS = (RUNNER, GRAPH, BARE)

Graph = CompiledStateGraph[Any, Any, Any, Any]


class BenchError(RuntimeError):
    """A variant did not do the work it is measured on (the figures would mean nothing)."""


@dataclass
class Backend:
    """An open backend: the saver the graphs checkpoint to and the stores `execute` writes to."""

    name: BackendName
    """`memory`, `sqlite` or `postgres`."""
    url: str
    """The database URL behind `stores` (what the runner variant is given)."""
    stores: Stores
    """Waypoint's stores, opened once for the whole measurement."""
    checkpointer: BaseCheckpointSaver[Any]
    """The saver both graph variants use."""

    _graphs: dict[str, Graph] = field(default_factory=dict)

    def graph(self, variant: str) -> Graph:
        """The compiled graph of a graph variant on this backend's saver (compiled once)."""
        if variant not in self._graphs:
            if variant == GRAPH:
                self._graphs[variant] = load_workflow("support").compile(self.checkpointer)
            elif variant == BARE:
                self._graphs[variant] = compile_bare(self.checkpointer)
            else:
                raise ValueError(f"{variant!r} is not a graph variant")
        return self._graphs[variant]

    def variants(self) -> tuple[str, ...]:
        """Variants this backend can run (the runner needs a database URL for checkpoints)."""
        return (GRAPH, BARE) if self.name == "memory" else VARIANTS


@asynccontextmanager
async def open_backend(ctx: BenchContext, name: BackendName) -> AsyncIterator[Backend]:
    """Open `name` for a measurement; a fresh SQLite file for `memory` and `sqlite`."""
    url = ctx.pg_url if name == "postgres" else ctx.sqlite_url(name)
    if url is None:
        raise BenchError(f"no {name} database: {ctx.pg_problem}")
    load_workflow("support")  # its tables (the demo CRM) are created when the stores open
    async with open_stores(url) as stores:
        await keep_orders_refundable(stores.db)
        saver = InMemorySaver() if name == "memory" else stores.checkpointer
        yield Backend(name=name, url=url, stores=stores, checkpointer=saver)


def thread_config(thread_id: str) -> RunnableConfig:
    """The config of a direct graph call."""
    return {"configurable": {"thread_id": thread_id}}


def _check_refunded(values: Any, who: str) -> None:
    resolution = values.get("resolution") if isinstance(values, dict) else None
    if not isinstance(resolution, dict) or resolution.get("kind") != "refunded":
        raise BenchError(f"{who}: the auto-refund ticket did not end refunded: {values!r}")


async def graph_run(graph: Graph, durability: Durability, *, who: str = "graph") -> str:
    """Run one auto-refund ticket to the end on a compiled graph; return its thread id."""
    thread_id = unique("bench")
    out = await graph.ainvoke(
        auto_refund(), thread_config(thread_id), context=SupportContext(), durability=durability
    )
    _check_refunded(out, who)
    return thread_id


async def runner_run(url: str, durability: Durability) -> str:
    """Run one auto-refund ticket through `start_run`; return its thread id."""
    thread_id = unique("bench")
    report = await start_run(
        "support", auto_refund(), thread_id=thread_id, db_url=url, durability=durability
    )
    if report.status != "completed":
        raise BenchError(f"start_run ended {report.status}, expected completed")
    _check_refunded(report.values, RUNNER)
    return thread_id


def run_operation(
    backend: Backend, variant: str, durability: Durability
) -> Callable[[int], Awaitable[str]]:
    """One auto-refund run of `variant` on `backend`, as a timing-loop operation."""
    if variant == RUNNER:

        async def via_runner(_: int) -> str:
            return await runner_run(backend.url, durability)

        return via_runner
    graph = backend.graph(variant)

    async def via_graph(_: int) -> str:
        return await graph_run(graph, durability, who=variant)

    return via_graph


@dataclass
class Paused:
    """A thread waiting at the approval interrupt, ready to be resumed."""

    thread_id: str
    """The waiting thread."""
    interrupt_id: str
    """Id of the pending interrupt."""


async def pause_at_approval(backend: Backend, variant: str) -> Paused:
    """Start a C-200/O-2 ticket with `variant` and stop at the approval interrupt."""
    if variant == RUNNER:
        report = await start_run(
            "support", needs_approval(), thread_id=unique("bench-hitl"), db_url=backend.url
        )
        if report.status != "waiting" or not report.interrupts:
            raise BenchError(f"start_run ended {report.status}, expected waiting")
        return Paused(report.thread_id, report.interrupts[0].id)
    graph = backend.graph(variant)
    thread_id = unique("bench-hitl")
    config = thread_config(thread_id)
    await graph.ainvoke(needs_approval(), config, context=SupportContext(), durability="sync")
    snapshot = await graph.aget_state(config)
    interrupts = [i for task in snapshot.tasks for i in task.interrupts]
    if not interrupts:
        raise BenchError(f"{variant}: the C-200 ticket did not stop at approval")
    return Paused(thread_id, interrupts[0].id)


def resume_operation(
    backend: Backend, variant: str, waiting: list[Paused]
) -> Callable[[int], Awaitable[str]]:
    """Resume the next waiting thread with an approval, as a timing-loop operation."""
    graph = None if variant == RUNNER else backend.graph(variant)

    async def resume(_: int) -> str:
        paused = waiting.pop()
        if graph is None:
            report = await resume_thread(paused.thread_id, APPROVE, db_url=backend.url)
            if report.status != "completed":
                raise BenchError(f"resume_thread ended {report.status}, expected completed")
            _check_refunded(report.values, RUNNER)
            return paused.thread_id
        out = await graph.ainvoke(
            Command(resume=APPROVE),
            thread_config(paused.thread_id),
            context=SupportContext(),
            durability="sync",
        )
        _check_refunded(out, variant)
        return paused.thread_id

    return resume


async def super_steps() -> int:
    """Super-steps of one auto-refund run (`__start__` and each node), counted on a bare graph.

    Call it inside `open_backend`, which sets the database the `execute` node writes to.
    """
    saver = InMemorySaver()
    thread_id = await graph_run(compile_bare(saver), "sync")
    checkpoints = [c async for c in saver.alist(thread_config(thread_id))]
    return len(checkpoints) - 1  # the input checkpoint is written before any step runs

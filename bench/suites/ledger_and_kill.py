"""The audit ledger and guards on and off, and how fast a kill halts a run (issue: guards).

Ledger overhead: the same compiled Waypoint graph on the same saver, invoked directly (off) and
through `waypoint.runner.execute` (on: a guard check, a ledger row and a kill-switch read per
node in one round trip, the rows settled as the saver reports each checkpoint). Kill latency:
a run through `execute` whose `lookup` node is asked to halt (`waypoint.kill.request_kill`,
what `waypoint kill` does) just before it returns; timed from the node's return to the end of
the run (the next node refused, the halt checkpoint written), and checked to have stopped
before `decide`.
"""

from __future__ import annotations

import time
from typing import Any, cast
from uuid import UUID, uuid4

from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.runnables import RunnableConfig

from bench.context import BenchContext
from bench.drivers import GRAPH, Backend, BackendName, BenchError, graph_run, open_backend
from bench.goals import Goal
from bench.registry import Section, benchmark
from bench.stats import Summary, ms, spread
from bench.tickets import auto_refund, unique
from bench.timing import Operation, interleaved, paired_ratio
from state.support import SupportContext, SupportState
from waypoint import runner
from waypoint.guards import Budgets, RunGuard
from waypoint.kill import request_kill
from waypoint.ledger import RUN_KEY, LedgerRecorder
from waypoint.workflows import load_workflow

LEDGER_BOUND = 1.10
KILL_BOUND_MS = 100.0
KILLED_NODE = "lookup"
NEXT_NODE = "decide"
AUTO_REFUND_PATH = (
    *("intake", "classify", "classification_gate", "lookup"),
    *("decide", "draft", "review_gate", "execute"),
)
NODES_PER_RUN = len(AUTO_REFUND_PATH)
ALONE = "recorder alone"


def _config(thread_id: str, callbacks: list[Any] | None = None) -> RunnableConfig:
    config: RunnableConfig = {"configurable": {"thread_id": thread_id, "waypoint_actor": "bench"}}
    if callbacks:
        config["callbacks"] = callbacks
    return config


async def _execute(backend: Backend, thread_id: str, callbacks: list[Any] | None = None) -> None:
    workflow = load_workflow("support")
    await runner.execute(
        backend.stores,
        workflow,
        backend.graph(GRAPH),
        auto_refund(),
        _config(thread_id, callbacks),
        SupportContext(),
    )


def _on_and_off(backend: Backend) -> dict[str, Operation]:
    graph = backend.graph(GRAPH)

    async def off(_: int) -> object:
        return await graph_run(graph, "sync")

    async def on(_: int) -> object:
        await _execute(backend, unique("ledger"))
        return None

    async def alone(_: int) -> object:
        await _recorder_alone(backend)
        return None

    return {"off": off, "on": on, ALONE: alone}


async def _recorder_alone(backend: Backend) -> None:
    """The ledger's own work for one auto-refund run, with no graph around it.

    The recorder's callbacks are called as LangGraph calls them for the same eight nodes, and
    the saver's report of each checkpoint as the observed savers make it: each node's row and
    kill-switch read before its body, its end, the commit marks, the final write. This is the
    part a synchronous row per node cannot shed.
    """
    recorder = LedgerRecorder(
        backend.stores.db,
        thread_id=unique("alone"),
        graph="support",
        guard=RunGuard(Budgets()),
        actor="bench",
        state_schema=SupportState,
    )
    config: RunnableConfig = {
        "configurable": {"thread_id": recorder.thread_id, "checkpoint_ns": ""},
        "metadata": {RUN_KEY: recorder.run_id},
    }
    state: dict[str, Any] = dict(auto_refund())
    for step, node in enumerate(AUTO_REFUND_PATH, start=1):
        run_id = uuid4()
        metadata = {"langgraph_node": node, "langgraph_step": step}
        await recorder.on_chain_start({}, state, run_id=run_id, name=node, metadata=metadata)
        state = {**state, node: {"step": step}}
        await recorder.on_chain_end({node: {"step": step}}, run_id=run_id)
        saved: RunnableConfig = {"configurable": {"checkpoint_id": uuid4().hex}}
        recorder.saved(config, {"step": step, "source": "loop", "parents": {}}, saved)
    await recorder.finish(backend.stores)


@benchmark("ledger-overhead", order=17)
async def ledger_overhead(ctx: BenchContext) -> Section:
    """The support graph with the ledger and guards on (runner.execute) and off (direct)."""
    section = Section(
        title="ledger and guards on vs off (auto-refund, same saver, durability sync)",
        columns=["saver", "variant", "median ms", "p10-p90 ms", "CPU ms", "per node ms", "vs off"],
        notes=[
            f"{ctx.scale.runs} runs per variant after {ctx.scale.warmup} warm-up, interleaved; "
            "off = the compiled Waypoint graph invoked directly; on = the same graph through "
            "`runner.execute` (what run, resume and replay use).",
            f"per node = (on - off) / {NODES_PER_RUN} nodes; vs off = median over rounds of "
            "on / off measured in the same round.",
            "Per node the ledger costs one database round trip before the node's body (the "
            "rows changed since the last trip, the new started rows and the kill-switch read, "
            "in one statement on Postgres, one transaction on SQLite; nodes that start while a "
            "trip is under way share the next) and its CPU (digests, "
            "redaction, LangChain's callback manager). The saver reports each checkpoint it "
            "saves, so rows are marked committed in memory as the run goes; after the run one "
            "statement writes what is left (`reconcile` reads checkpoints back only when a run "
            "that died left rows pending).",
            f"{ALONE} = the recorder's callbacks called as LangGraph calls them for the same "
            f"{NODES_PER_RUN} nodes, with no graph (real database, same statements); its vs off "
            "is its time as a share of an off run: what one synchronous row per node costs on "
            "its own.",
        ],
    )
    for name in cast(list[BackendName], ctx.backends()):
        if name == "memory":
            continue
        async with open_backend(ctx, name) as backend:
            samples = await interleaved(
                _on_and_off(backend), runs=ctx.scale.runs, warmup=ctx.scale.warmup
            )
        off_summary, on_summary = Summary.of(samples["off"].wall), Summary.of(samples["on"].wall)
        alone_summary = Summary.of(samples[ALONE].wall)
        slowdown = paired_ratio(samples["on"].wall, samples["off"].wall)
        per_node = (on_summary.median - off_summary.median) / NODES_PER_RUN
        share = alone_summary.median / off_summary.median
        for variant, summary, node_ms, versus in (
            ("off", off_summary, "-", "1.00x"),
            ("on", on_summary, ms(per_node), f"{slowdown:.2f}x"),
            (ALONE, alone_summary, ms(alone_summary.median / NODES_PER_RUN), f"+{share:.0%}"),
        ):
            section.rows.append(
                {
                    "saver": name,
                    "variant": variant,
                    "median ms": ms(summary.median),
                    "p10-p90 ms": spread(summary),
                    "CPU ms": ms(Summary.of(samples[variant].cpu).median),
                    "per node ms": node_ms,
                    "vs off": versus,
                }
            )
        section.data[f"{name}/off"] = off_summary.median
        section.data[f"{name}/on"] = on_summary.median
        section.goals.append(
            Goal(
                name=f"ledger and guards on vs off, {name}",
                ratio=slowdown,
                bound=LEDGER_BOUND,
                direction="<=",
                detail=f"median {ms(on_summary.median)} ms vs {ms(off_summary.median)} ms; "
                f"{ms(per_node)} ms per node",
            )
        )
    if ctx.pg_url is None:
        section.notes.append(f"No Postgres rows: {ctx.pg_problem}")
    return section


class _KillBeforeReturn(AsyncCallbackHandler):
    """Requests a kill as `KILLED_NODE` finishes, then notes when it returned to the graph."""

    run_inline = True
    raise_error = True

    def __init__(self, backend: Backend, thread_id: str) -> None:
        self.backend = backend
        self.thread_id = thread_id
        self.node_runs: dict[UUID, str] = {}
        self.requested_at: float | None = None
        self.returned_at: float | None = None

    async def on_chain_start(
        self, serialized: Any, inputs: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        node = (kwargs.get("metadata") or {}).get("langgraph_node")
        if node and kwargs.get("name") == node:
            self.node_runs[run_id] = str(node)

    async def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if self.node_runs.pop(run_id, None) != KILLED_NODE:
            return
        self.requested_at = time.perf_counter()
        await request_kill(self.backend.stores.db, self.thread_id, "bench", "bench")
        self.returned_at = time.perf_counter()


@benchmark("kill-latency", order=18)
async def kill_latency(ctx: BenchContext) -> Section:
    """From `waypoint kill` to the halt, with the kill landing as a node finishes."""
    section = Section(
        title=f"kill latency: a kill requested while `{KILLED_NODE}` runs",
        columns=["saver", "measure", "median ms", "p10-p90 ms", "max ms", "n"],
        notes=[
            f"Each run goes through `runner.execute`; as `{KILLED_NODE}` finishes, a callback "
            "calls `request_kill` (the database write `waypoint kill` makes) and the node "
            "returns. `return -> halt` = from the node's return to the end of the run: its "
            f"checkpoint, the kill seen before `{NEXT_NODE}`, the halt in the state and its "
            "checkpoint. Each run is checked to have halted with the kill at "
            f"`{NEXT_NODE}`, whose body never ran.",
            "In one process for precision; the kill from a second process is tested in "
            "tests/e2e/test_cli_kill.py (it goes through the same table).",
        ],
    )
    for name in cast(list[BackendName], ctx.backends()):
        if name == "memory":
            continue
        after_return: list[float] = []
        from_request: list[float] = []
        async with open_backend(ctx, name) as backend:
            for index in range(ctx.scale.warmup + ctx.scale.runs):
                thread_id = unique("kill")
                probe = _KillBeforeReturn(backend, thread_id)
                await _execute(backend, thread_id, [probe])
                ended = time.perf_counter()
                state = await backend.graph(GRAPH).aget_state(_config(thread_id))
                halt = (state.values or {}).get("halt") or {}
                # the kill refuses NEXT_NODE in its start callback, before its body runs; or the
                # kill watch cancels the run while KILLED_NODE is still returning (halt there)
                stopped_at = halt.get("node")
                decided = (state.values or {}).get("decision") is not None
                if (
                    halt.get("kind") != "kill"
                    or stopped_at not in (KILLED_NODE, NEXT_NODE)
                    or decided
                ):
                    raise BenchError(
                        f"kill-latency: run {thread_id} did not halt before {NEXT_NODE}: "
                        f"halt={halt!r}"
                    )
                if probe.requested_at is None or probe.returned_at is None:
                    raise BenchError(f"kill-latency: {KILLED_NODE} never finished")
                if index >= ctx.scale.warmup:
                    after_return.append(ended - probe.returned_at)
                    from_request.append(ended - probe.requested_at)
        returned, requested = Summary.of(after_return), Summary.of(from_request)
        for measure, summary in (
            ("node return -> halt", returned),
            ("kill request -> halt", requested),
        ):
            section.rows.append(
                {
                    "saver": name,
                    "measure": measure,
                    "median ms": ms(summary.median),
                    "p10-p90 ms": spread(summary),
                    "max ms": ms(max(after_return if "return" in measure else from_request)),
                    "n": str(len(after_return)),
                }
            )
        section.data[f"{name}/return_to_halt"] = returned.median
        worst = max(after_return)
        section.goals.append(
            Goal(
                name=f"kill: node return -> halt (worst of {len(after_return)}), {name}",
                ratio=worst * 1000 / KILL_BOUND_MS,
                bound=1.0,
                direction="<=",
                detail=f"worst {ms(worst)} ms, median {ms(returned.median)} ms vs "
                f"{KILL_BOUND_MS:.0f} ms; halted before {NEXT_NODE}'s body every time",
            )
        )
    if ctx.pg_url is None:
        section.notes.append(f"No Postgres rows: {ctx.pg_problem}")
    return section

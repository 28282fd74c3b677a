"""Routing and breaker overhead (issue #4): the capability registry against direct provider calls.

Nodes never call a provider: they call `registry.call(capability, request)`, which routes among
the configured providers (`waypoint.routing`), asks the shared breakers (`waypoint.breakers`,
rows in the run's database) whether each may be called, serves the request under the provider's
timeout, validates the answer against the output contract and reports the call to the ledger.
The baseline is the same work with each capability call going straight to the `support`
workflow's offline provider function.

The seam is Waypoint's own capability hook (`waypoint.capability_hooks`, what eval recording and
replay use): `DIRECT` is a hook that answers every call of the `support` capabilities with the
offline provider's function and nothing else. Set around a run, it turns the same compiled graph
(and the same `start_run`) into one whose nodes call the providers directly; no graph is copied
and nothing in `waypoint/` changes. What the hook leaves in `registry.call` is a dict lookup, an
isinstance check and a context-variable read.

Measured, in one run, interleaved:

- per capability call: the three calls one auto-refund run makes (classify, CRM lookup, draft;
  requests captured from a real run), repeated, through `registry.call` (breakers off: no
  database; breakers on: the cached view; breakers read from the database on every call, as
  the first call of each capability does in a process or a `start_run` of its own) against the
  provider functions, bare and with the contract check alone;
- per run: the Waypoint graph on an InMemorySaver (the CPU cost alone; its breakers sit in the
  benchmark's open SQLite stores, so their view is cached), and `start_run` on SQLite and
  Postgres outside any open stores, so each run opens its own database handle and reads the
  breaker row of each capability once, as one `waypoint run` process does.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, cast

from pydantic import BaseModel

from bench.context import BenchContext
from bench.drivers import (
    GRAPH,
    BackendName,
    BenchError,
    Graph,
    graph_run,
    open_backend,
    runner_run,
)
from bench.goals import Goal, ProfileTarget, Workload
from bench.registry import Section, benchmark
from bench.stats import Summary, ms, ratio, safe_ratio, spread
from bench.tickets import keep_orders_refundable
from bench.timing import Operation, Samples, interleaved, paired_ratio
from nodes.support.capabilities import (
    CLASSIFY,
    DRAFT,
    LOOKUP,
    classify_offline,
    draft_offline,
    lookup_crm,
)
from waypoint.breakers import Breakers, shared_breakers
from waypoint.capabilities import CapabilityRegistry, registry, validate_output
from waypoint.capability_hooks import capability_hook
from waypoint.persistence.sql import Database
from waypoint.persistence.stores import open_stores
from waypoint.workflows import load_workflow

OVERHEAD_BOUND = 1.05
"""Goal (issue #4): routing and breakers add at most 5% to a run."""

ROUNDS = 50
"""Rounds of the three calls per per-call sample (150 calls), so a sample is well above timer
resolution."""

Provider = Callable[[Any], BaseModel | Awaitable[BaseModel]]

OFFLINE: dict[str, tuple[str, Provider]] = {
    CLASSIFY.name: ("offline-keyword-classifier", classify_offline),
    LOOKUP.name: ("demo-crm", lookup_crm),
    DRAFT.name: ("offline-template-writer", draft_offline),
}
"""Capability → (offline provider's name, its function), as `nodes/support/capabilities.py`
registers them."""

MEMORY_ROUNDS = 100
"""At least this many rounds for the in-memory graph pairs (≈9 ms each): the difference looked
for is 1-3%, well inside one run's spread, so the median ratio needs many pairs."""
START_RUN_ROUNDS = 40
"""The same for the `start_run` pairs (40-80 ms each, spread ±10%)."""

Call = tuple[str, BaseModel]

DIRECT_CALL = "provider function (direct)"
CONTRACT = "provider function + contract check"
NO_BREAKERS = "registry.call, no database (breakers off)"
CACHED = "registry.call, breakers on (cached view)"
READ = "one breaker read from the database (empty cache)"
REGISTRY_RUN = "with the registry"
DIRECT_RUN = "providers called directly"


async def _direct(
    registry: CapabilityRegistry,
    name: str,
    request: BaseModel,
    model: str | None,
    serve: Callable[[], Awaitable[Any]],
) -> Any:
    """Capability hook: answer with the offline provider's function, nothing else."""
    return await _answer(OFFLINE[name][1], request)


async def _answer(provider: Provider, request: BaseModel) -> BaseModel:
    """A provider function's answer (the CRM reader is a coroutine: it reads the database)."""
    answer = provider(request)
    return await answer if inspect.isawaitable(answer) else answer


@contextmanager
def direct_providers() -> Iterator[None]:
    """Within this block, capability calls go straight to the offline providers."""
    with capability_hook(_direct):
        yield


def _check_routes() -> None:
    """The registry must route each capability to the very provider the baseline calls."""
    for name, (provider, _) in OFFLINE.items():
        route = registry.route(name, None)
        if route != [provider]:
            raise BenchError(
                f"{name} is routed to {route}, not [{provider!r}] (WAYPOINT_ROUTE_* or "
                "waypoint.toml): the registry and the direct calls would not do the same work"
            )


async def _captured_calls(graph: Graph) -> list[Call]:
    """The capability requests of one auto-refund run, in order."""
    calls: list[Call] = []

    async def record(
        registry: CapabilityRegistry,
        name: str,
        request: BaseModel,
        model: str | None,
        serve: Callable[[], Awaitable[Any]],
    ) -> Any:
        calls.append((name, request))
        return await serve()

    with capability_hook(record):
        await graph_run(graph, "sync")
    if sorted(name for name, _ in calls) != sorted(OFFLINE):
        raise BenchError(f"expected one call of each of {sorted(OFFLINE)}, got {calls}")
    return calls


def _per_call_ops(
    calls: list[Call], outer: contextvars.Context, db: Database
) -> dict[str, Operation]:
    """One operation per call path; each makes `ROUNDS` rounds of `calls`."""

    async def direct(_: int) -> object:
        for _round in range(ROUNDS):
            for name, request in calls:
                await _answer(OFFLINE[name][1], request)
        return None

    async def contract(_: int) -> object:
        for _round in range(ROUNDS):
            for name, request in calls:
                provider, fn = OFFLINE[name]
                validate_output(registry.capability(name), provider, await _answer(fn, request))
        return None

    async def via_registry() -> None:
        for _round in range(ROUNDS):
            for name, request in calls:
                await registry.call(name, request)

    async def no_breakers(_: int) -> object:
        # a task in the context captured before the stores were opened: no current database
        await asyncio.create_task(via_registry(), context=outer)
        return None

    async def cached(_: int) -> object:
        await via_registry()
        return None

    async def read(_: int) -> object:
        for _round in range(ROUNDS):
            for name, _request in calls:
                # a fresh Breakers has an empty cache: its first view is one SELECT
                await Breakers(db).view(f"{name}/{OFFLINE[name][0]}")
        return None

    return {
        DIRECT_CALL: direct,
        CONTRACT: contract,
        NO_BREAKERS: no_breakers,
        CACHED: cached,
        READ: read,
    }


def _us(seconds: float) -> str:
    value = seconds * 1e6
    return "-" if value != value else (f"{value:.0f} µs" if value >= 100 else f"{value:.1f} µs")


def _per_run_ops(run: Callable[[], Awaitable[str]]) -> dict[str, Operation]:
    async def with_registry(_: int) -> object:
        return await run()

    async def direct(_: int) -> object:
        with direct_providers():
            return await run()

    return {REGISTRY_RUN: with_registry, DIRECT_RUN: direct}


def _profile(label: str, run: Callable[[], Awaitable[str]], runs: int) -> ProfileTarget:
    def workload(direct: bool) -> Workload:
        @asynccontextmanager
        async def prepared() -> AsyncIterator[Callable[[], Awaitable[int]]]:
            await run()  # connect, import and cache outside the profile

            async def many() -> int:
                for _ in range(runs):
                    if direct:
                        with direct_providers():
                            await run()
                    else:
                        await run()
                return runs

            yield many

        return prepared

    return ProfileTarget(
        label=f"{label}: registry vs providers called directly, {runs} runs each",
        run=workload(False),
        baseline=workload(True),
        baseline_label="direct",
        focus=("call",),
    )


def _per_run_rows(
    section: Section,
    where: str,
    samples: dict[str, Samples],
    profile: ProfileTarget,
    predicted: float | None,
) -> None:
    wall = {v: Summary.of(s.wall) for v, s in samples.items()}
    cpu = {v: Summary.of(s.cpu) for v, s in samples.items()}
    slowdown = paired_ratio(samples[REGISTRY_RUN].wall, samples[DIRECT_RUN].wall)
    cpu_ratio = paired_ratio(samples[REGISTRY_RUN].cpu, samples[DIRECT_RUN].cpu)
    for variant in (REGISTRY_RUN, DIRECT_RUN):
        section.rows.append(
            {
                "measure": "per run",
                "where": where,
                "variant": variant,
                "median": f"{ms(wall[variant].median)} ms",
                "p10-p90": f"{spread(wall[variant])} ms",
                "CPU": f"{ms(cpu[variant].median)} ms",
                "vs direct": ratio(slowdown) if variant == REGISTRY_RUN else "1.00x",
            }
        )
        section.data[f"run/{where}/{variant}"] = {
            **wall[variant].as_dict(),
            "cpu": cpu[variant].as_dict(),
        }
    added = wall[REGISTRY_RUN].median - wall[DIRECT_RUN].median
    section.data[f"run/{where}/vs_direct"] = {"wall": slowdown, "cpu": cpu_ratio}
    section.goals.append(
        Goal(
            name=f"routing and breakers vs direct providers, per run, {where}",
            ratio=slowdown,
            bound=OVERHEAD_BOUND,
            direction="<=",
            detail=f"median {ms(wall[REGISTRY_RUN].median)} ms vs "
            f"{ms(wall[DIRECT_RUN].median)} ms ({ms(added)} ms); CPU {ratio(cpu_ratio)}"
            + (
                f"; the per-call rows predict +{ms(predicted)} ms "
                f"({ratio(1 + safe_ratio(predicted, wall[DIRECT_RUN].median))})"
                if predicted is not None
                else ""
            ),
            profile=profile,
        )
    )


def _predicted(medians: dict[str, dict[str, float]], where: str, *, reads: bool) -> float | None:
    """Seconds the per-call rows predict routing adds to one run (3 calls, cached breakers).

    With `reads`, plus one breaker read per capability (a `start_run` of its own).
    """
    calls = medians.get(where)
    if calls is None:
        return None
    added = len(OFFLINE) * (calls[CACHED] - calls[DIRECT_CALL])
    return added + (len(OFFLINE) * calls[READ] if reads else 0.0)


async def _distinct_breakers(url: str, runs: int) -> int:
    """How many breaker objects (each with its own cache) `runs` runs of `start_run` use."""
    seen: list[object] = []  # kept alive, so ids cannot be reused

    async def spy(
        registry: CapabilityRegistry,
        name: str,
        request: BaseModel,
        model: str | None,
        serve: Callable[[], Awaitable[Any]],
    ) -> Any:
        breakers = await shared_breakers()
        if breakers is not None and all(breakers is not b for b in seen):
            seen.append(breakers)
        return await serve()

    with capability_hook(spy):
        for _ in range(runs):
            await runner_run(url, "sync")
    return len(seen)


@benchmark("routing-overhead", order=12)
async def routing_overhead(ctx: BenchContext) -> Section:
    _check_routes()
    runs, warmup = ctx.scale.runs, ctx.scale.warmup
    section = Section(
        title="capability routing and breakers vs calling the providers directly (issue #4)",
        columns=["measure", "where", "variant", "median", "p10-p90", "CPU", "vs direct"],
        notes=[
            "Direct = Waypoint's capability hook answering each call with the `support` "
            "workflow's offline provider function (`bench/suites/routing_overhead.py`): the same "
            "compiled graph and the same `start_run`, no routing, no breakers, no timeout task, "
            "no contract check, no ledger report of the call.",
            f"per call: {ROUNDS} rounds of the 3 calls one auto-refund run makes (requests "
            f"captured from a real run) per sample, {runs} samples after {warmup} warm-up, all "
            "paths interleaved; figures per call. `where` = the database holding the breakers.",
            "per run: auto-refund ticket C-100/O-1, durability sync, "
            f"{max(runs * 2, MEMORY_ROUNDS)} (memory) or "
            f"{max(runs, START_RUN_ROUNDS)} (start_run) runs per variant after {warmup} warm-up, "
            "interleaved; vs direct = median over rounds of "
            "(registry time / direct time in the same round), wall time; the goal uses it.",
            "memory (graph) = the compiled Waypoint graph on an InMemorySaver inside the "
            "benchmark's open SQLite stores (breaker views cached); sqlite/postgres (start_run) "
            "= `start_run` given only the URL, so each run opens its own stores and its "
            "breakers start with an empty cache, as in one `waypoint run` process.",
        ],
    )
    if os.environ.get("WAYPOINT_DB_URL"):
        section.notes.append(
            "WAYPOINT_DB_URL is set, so `no database (breakers off)` still has breakers (on "
            "that database): unset it for that row to mean what it says."
        )
    outer = contextvars.copy_context()
    # --- per capability call, per breaker database -------------------------------------------
    shown_once = (DIRECT_CALL, CONTRACT, NO_BREAKERS)
    medians: dict[str, dict[str, float]] = {}
    for index, name in enumerate(cast(list[BackendName], ctx.backends())):
        async with open_backend(ctx, name) as backend:
            calls = await _captured_calls(backend.graph(GRAPH))
            ops = _per_call_ops(calls, outer, backend.stores.db)
            samples = await interleaved(ops, runs=runs, warmup=warmup)
        per_call = len(calls) * ROUNDS
        direct = Summary.of(samples[DIRECT_CALL].wall).median / per_call
        medians[name] = {v: Summary.of(x.wall).median / per_call for v, x in samples.items()}
        for variant, sample in samples.items():
            if variant in shown_once and index > 0:
                continue  # no database involved: shown once
            wall = Summary.of([s / per_call for s in sample.wall])
            cpu = Summary.of([s / per_call for s in sample.cpu])
            section.rows.append(
                {
                    "measure": "per call",
                    "where": "-" if variant in shown_once else name,
                    "variant": variant,
                    "median": _us(wall.median),
                    "p10-p90": f"{_us(wall.p10)}-{_us(wall.p90)}",
                    "CPU": _us(cpu.median),
                    "vs direct": "-" if variant == READ else ratio(safe_ratio(wall.median, direct)),
                }
            )
            section.data[f"call/{name}/{variant}"] = {**wall.as_dict(), "cpu": cpu.as_dict()}

    # --- per run ---------------------------------------------------------------------------
    async with open_backend(ctx, "memory") as backend:
        graph = backend.graph(GRAPH)

        async def graph_once() -> str:
            return await graph_run(graph, "sync")

        samples = await interleaved(
            _per_run_ops(graph_once), runs=max(runs * 2, MEMORY_ROUNDS), warmup=warmup
        )
        _per_run_rows(
            section,
            "memory (graph)",
            samples,
            _profile("Waypoint graph on memory", graph_once, ctx.scale.profile_runs * 4),
            _predicted(medians, "sqlite", reads=False),
        )
    rounds = max(runs, START_RUN_ROUNDS)
    for backend_name in ctx.backends():
        url = ctx.pg_url if backend_name == "postgres" else ctx.sqlite_url("routing")
        assert url is not None
        load_workflow("support")  # its tables, then the bench CRM's refundable orders
        async with open_stores(url) as stores:
            await keep_orders_refundable(stores.db)

        async def start_once(url: str = url) -> str:
            return await runner_run(url, "sync")

        samples = await interleaved(_per_run_ops(start_once), runs=rounds, warmup=warmup)
        _per_run_rows(
            section,
            f"{backend_name} (start_run)",
            samples,
            _profile(f"start_run on {backend_name}", start_once, ctx.scale.profile_runs),
            _predicted(medians, backend_name, reads=True),
        )
        if backend_name == ctx.backends()[-1]:
            fresh = await _distinct_breakers(url, 3)
            section.notes.append(
                f"Breakers under `start_run` ({backend_name}): 3 runs used {fresh} breaker "
                "objects, a fresh one per run: the 1 s cache lives in the `Breakers` of one "
                "database handle and `start_run` opens its own, so each run reads the breaker "
                "row of each of its 3 capabilities once (3 SELECTs, `one breaker read` above); "
                "nothing is written while the breakers are closed and clean."
                if fresh == 3
                else f"Breakers under `start_run` ({backend_name}): 3 runs used {fresh} breaker "
                "object(s), so the 1 s cache of breaker views outlived a run."
            )
    section.notes.append(
        "Where the time goes (cProfile of `registry.call` on the offline providers, 4504a07): "
        "`route` (config freshness check, `WAYPOINT_ROUTE_*` lookup), `Router.rank`/`explain`, "
        "`shared_breakers` and three cached breaker views, the contract check (`provider "
        "function + contract check` minus direct) and the call's bookkeeping; none dominates. "
        "Before 4504a07 a call cost ≈100 µs and the memory run missed the goal (1.06-1.07x): "
        "≈40 µs was an `asyncio.wait_for` task around plain-function providers (a timeout "
        "cannot stop those) and ≈25 µs `load_config`'s pathlib exists()+stat() per call."
    )
    if ctx.pg_url is None:
        section.notes.append(f"No Postgres rows: {ctx.pg_problem}")
    return section

"""Outbox relay throughput and `call_once` cost, from `bench/relay_throughput.py`, in the main run.

Full mode: 300 effects per backend; quick mode: 60.
"""

from __future__ import annotations

from bench.context import BenchContext
from bench.registry import Section, benchmark
from bench.relay_throughput import measure
from bench.stats import rate, ratio


@benchmark("relay-throughput", order=75)
async def relay_throughput(ctx: BenchContext) -> Section:
    effects = 60 if ctx.quick else 300
    figures = await measure(effects, ctx.pg_url)
    section = Section(
        title="outbox: relay throughput (FAKE payments); call_once vs a bare call; the re-read",
        columns=[
            "backend",
            "effects",
            "relay effects/s",
            "relay vs bare",
            "call_once ms",
            "vs bare",
            "re-read ms",
            "vs local refund",
            "vs call_once",
        ],
        notes=[
            f"{effects} payments enqueued in one transaction, then one `relay(once=True)` pass; "
            "bare: the same number of HTTP calls to the fake with no database (the faster of a "
            "run before and after); `bench/relay_throughput.py`.",
            "re-read: the order and customer `support` reads again just before paying; against "
            "the local refund it guards (`perform_once` moving the order's refunded amount) and "
            "an external payment (`call_once`). Means over the call_once count.",
        ],
        data=figures,
    )
    for backend, f in figures.items():
        section.rows.append(
            {
                "backend": backend,
                "effects": str(f["effects"]),
                "relay effects/s": rate(float(f["relay_effects_per_second"])),
                "relay vs bare": ratio(float(f["relay_over_bare"])),
                "call_once ms": f"{f['call_once_ms']:.2f}",
                "vs bare": ratio(float(f["call_once_over_bare"])),
                "re-read ms": f"{f['reread_ms']:.2f}",
                "vs local refund": ratio(float(f["reread_over_local_refund"])),
                "vs call_once": ratio(float(f["reread_over_call_once"])),
            }
        )
    return section

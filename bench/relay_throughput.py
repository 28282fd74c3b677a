"""Outbox benchmark: relay throughput through the FAKE payment service, and what the outbox adds.

    .venv/bin/python -m bench.relay_throughput [--effects 300] [--pg URL]

- Relay: `--effects` payments enqueued in the outbox (one transaction), then delivered by one
  `relay(once=True)` pass to the fake payment service in a thread of this process: effects
  per second, and its cost per effect against the same number of bare HTTP calls to the fake
  (`send`, no database; the faster of a run before and one after, on the same fake).
- `call_once` from a node's point of view: enqueue + send + record, one effect at a time,
  against the bare call.
- The re-read before an effect: what `support`'s `execute` reads again just before paying
  (the order and the customer, `read_lookup`), against the effect it guards: a local refund
  committed once under its key (`perform_once` moving the order's refunded amount, as
  `execute` does) and an external one (`call_once`).

All figures of one backend come from one run, so the ratios compare like with like.
`measure()` returns them as a dict; `python -m bench` runs it through
`bench/suites/relay_throughput.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import graphs.support  # noqa: F401  (the demo CRM tables the re-read reads)
from nodes.support.crm import cents, read_customer, read_order, record_refund
from waypoint.fakes.payments import start_in_thread
from waypoint.outbox import call_once, enqueue_call, relay, send
from waypoint.persistence.side_effects import effect_key, perform_once
from waypoint.persistence.sql import Database, Executor
from waypoint.persistence.stores import open_stores


def _body(ref: str) -> dict[str, Any]:
    return {"amount": "1.00", "currency": "USD", "reference": ref}


async def _bare(count: int, tag: str) -> float:
    started = time.perf_counter()
    for index in range(count):
        ref = f"bare-{tag}-{index}"
        outcome, _, _ = await send("payments", "/payments", _json(_body(ref)), ref)
        assert outcome == "delivered"
    return time.perf_counter() - started


def _json(body: dict[str, Any]) -> str:
    import json

    return json.dumps(body, sort_keys=True, separators=(",", ":"))


async def measure_backend(db_url: str, effects: int) -> dict[str, Any]:
    """The figures for one database (see the module docstring)."""
    tag = uuid.uuid4().hex[:8]
    async with open_stores(db_url) as stores:
        db = stores.db
        await _bare(20, f"warm-{tag}")
        bare = await _bare(effects, tag)
        async with db.transaction() as tx:
            for index in range(effects):
                ref = f"relay-{tag}-{index}"
                await enqueue_call(
                    tx,
                    provider="payments",
                    path="/payments",
                    body=_body(ref),
                    key=effect_key("bench.payment", ref),
                    kind="bench.payment",
                    thread_id=f"bench-{tag}",
                )
            await tx.execute(
                "UPDATE waypoint_outbox SET next_attempt_at = 0 WHERE thread_id = :t",
                {"t": f"bench-{tag}"},
            )
        started = time.perf_counter()
        report = await relay(db, once=True, batch=effects)
        relayed = time.perf_counter() - started
        assert report.delivered == effects, report
        calls = max(effects // 3, 10)
        started = time.perf_counter()
        for index in range(calls):
            ref = f"call-{tag}-{index}"
            delivery = await call_once(
                provider="payments",
                path="/payments",
                body=_body(ref),
                key=effect_key("bench.payment", ref),
                kind="bench.payment",
                db=db,
                thread_id=f"bench-{tag}",
            )
            assert delivery.ok
        called = time.perf_counter() - started
        bare = min(bare, await _bare(effects, f"after-{tag}"))  # the better of before / after
        reread_ms, refund_ms = await _reread_and_refund(db, calls, tag)
    bare_per = bare / effects
    return {
        "effects": effects,
        "bare_seconds": bare,
        "relay_seconds": relayed,
        "relay_effects_per_second": effects / relayed,
        "relay_over_bare": (relayed / effects) / bare_per,
        "call_once_count": calls,
        "call_once_ms": called / calls * 1000,
        "bare_ms": bare_per * 1000,
        "call_once_over_bare": (called / calls) / bare_per,
        "reread_ms": reread_ms,
        "local_refund_ms": refund_ms,
        "reread_over_local_refund": reread_ms / refund_ms,
        "reread_over_call_once": reread_ms / (called / calls * 1000),
    }


async def _reread_and_refund(db: Database, count: int, tag: str) -> tuple[float, float]:
    """Mean ms of `execute`'s re-read of the facts, and of the local refund it guards."""
    order_id, customer_id = f"BENCH-{tag}", "C-100"
    await db.execute(
        "INSERT INTO support_orders (order_id, customer_id, total_cents, currency, status, "
        "refunded_cents) VALUES (:id, :customer, :total, 'USD', 'delivered', 0)",
        {"id": order_id, "customer": customer_id, "total": cents(Decimal(count)) * 10},
    )
    started = time.perf_counter()
    for _ in range(count):
        order, customer = await read_order(db, order_id), await read_customer(db, customer_id)
        assert order is not None and customer is not None
    reread = time.perf_counter() - started

    async def refund(tx: Executor) -> dict[str, Any]:
        assert await record_refund(tx, order_id, Decimal("1.00"))
        return {"amount": "1.00"}

    started = time.perf_counter()
    for index in range(count):
        key = effect_key("bench.refund", order_id, str(index))
        _, now = await perform_once(
            db, key=key, thread_id=f"bench-{tag}", kind="bench.refund", apply=refund
        )
        assert now
    refunded = time.perf_counter() - started
    return reread / count * 1000, refunded / count * 1000


async def measure(effects: int = 300, pg_url: str | None = None) -> dict[str, dict[str, Any]]:
    """Figures per backend: SQLite always, Postgres when `pg_url` is given."""
    import os

    figures: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="waypoint-bench-relay-") as folder:
        fake = start_in_thread(Path(folder) / "ledger.sqlite")
        previous = os.environ.get("WAYPOINT_PROVIDER_PAYMENTS_URL")
        os.environ["WAYPOINT_PROVIDER_PAYMENTS_URL"] = fake.url
        try:
            figures["sqlite"] = await measure_backend(
                f"sqlite:///{Path(folder) / 'relay.sqlite'}", effects
            )
            if pg_url:
                figures["postgres"] = await measure_backend(pg_url, effects)
        finally:
            if previous is None:
                os.environ.pop("WAYPOINT_PROVIDER_PAYMENTS_URL", None)
            else:
                os.environ["WAYPOINT_PROVIDER_PAYMENTS_URL"] = previous
            fake.stop()
    return figures


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--effects", type=int, default=300)
    parser.add_argument("--pg", default=None, help="A Postgres URL to measure too.")
    args = parser.parse_args()
    for backend, f in asyncio.run(measure(args.effects, args.pg)).items():
        print(
            f"{backend}: relay {f['effects']} effects in {f['relay_seconds']:.2f}s = "
            f"{f['relay_effects_per_second']:.0f} effects/s ({f['relay_over_bare']:.2f}x a bare "
            f"HTTP call each); call_once {f['call_once_ms']:.2f} ms vs bare {f['bare_ms']:.2f} ms "
            f"= {f['call_once_over_bare']:.2f}x; re-read {f['reread_ms']:.2f} ms = "
            f"{f['reread_over_local_refund']:.2f}x the local refund it guards "
            f"({f['local_refund_ms']:.2f} ms), {f['reread_over_call_once']:.2f}x a call_once"
        )


if __name__ == "__main__":
    main()

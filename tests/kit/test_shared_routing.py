"""Routing that remembers: provider health is shared through the database, SLOs are enforced.

This process calls `kit-spend-slow` (configured first; 80 ms against its 50 ms SLO) five
times; a fresh process, which has seen nothing itself, then ranks it down on what this one saw,
calls `kit-spend-fast`, and the ledger says why.
"""

from __future__ import annotations

import contextlib
import json
import uuid

import psycopg
import pytest

from tests.conftest import waypoint_cli
from tests.helpers import is_sqlite, query, run
from tests.kit.routed_providers import FAST, SLOW
from waypoint.capabilities import flush_health, registry
from waypoint.persistence.stores import open_stores
from waypoint.runner import start_run

ROUTE = {
    "WAYPOINT_ROUTE_KIT_SPEND": f"{SLOW},{FAST}",
    "WAYPOINT_PLUGINS": "tests.kit.routed_providers",
}


def _clear(db_url: str) -> None:
    if is_sqlite(db_url):
        return
    with (
        psycopg.connect(db_url, autocommit=True) as pg,
        contextlib.suppress(psycopg.errors.UndefinedTable),
    ):
        pg.execute("DELETE FROM waypoint_provider_health WHERE provider LIKE 'kit-spend-%'")


def _reason(db_url: str, thread: str) -> str:
    [row] = query(
        db_url,
        "SELECT routing_reason FROM waypoint_ledger WHERE thread_id = ? AND node = 'spend'",
        (thread,),
    )
    return str(row["routing_reason"])


def test_a_fresh_process_ranks_down_a_provider_others_saw_above_its_slo(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clear(db_url)
    for name, value in ROUTE.items():
        monkeypatch.setenv(name, value)
    for provider in (SLOW, FAST):
        registry.router.signals.pop(provider, None)
    here = f"route-{uuid.uuid4().hex[:8]}"
    first = run(start_run("spender", {"calls": 5}, thread_id=here, db_url=db_url))
    assert first.status == "completed"
    assert registry.router.of(SLOW).samples == 5 and registry.router.of(FAST).samples == 0

    async def flush() -> None:
        async with open_stores(db_url) as stores:
            await flush_health(stores.db, force=True)

    run(flush())
    [row] = query(
        db_url,
        "SELECT samples, latency_ms FROM waypoint_provider_health WHERE provider = ?",
        (SLOW,),
    )
    assert row["samples"] == 5 and row["latency_ms"] > 50

    fresh = f"route-{uuid.uuid4().hex[:8]}"
    done = waypoint_cli("run", "spender", "--input", '{"calls": 1}', "--thread", fresh,
                        "--db", db_url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    reason = _reason(db_url, fresh)
    assert reason.startswith(f"chose {FAST} "), reason
    assert f"ranked down {SLOW}: latency" in reason and "above its SLO 50 ms" in reason
    # the fresh process wrote what it saw: the fast provider now has a row of its own
    assert query(db_url, "SELECT 1 FROM waypoint_provider_health WHERE provider = ?", (FAST,))
    listed = waypoint_cli("registry", "--db", db_url, "--json")
    assert listed.returncode == 0, listed.stderr
    cards = {c["name"]: c for c in json.loads(listed.stdout)}
    assert cards[SLOW]["seen"]["calls"] >= 5 and cards[SLOW]["seen"]["within_slo"] is False
    assert cards[FAST]["seen"]["calls"] >= 1

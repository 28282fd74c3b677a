"""Many runs at once in one process: a server's situation, on one open set of stores or many."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from tests.conftest import scratch_database
from tests.helpers import count, demo_input, fresh_input, query, run
from waypoint.errors import ThreadBusy
from waypoint.persistence.stores import open_stores
from waypoint.runner import start_run

RUNS = 12


def _tickets(db_url: str, prefix: str) -> list[dict[str, Any]]:
    """Each ticket refunds an order of its own (an order is refunded once, whatever the tickets)."""
    return [fresh_input(db_url, "auto refund", ticket_id=f"{prefix}-{i}") for i in range(RUNS)]


async def _batch(db_url: str, prefix: str, tickets: list[dict[str, Any]]) -> list[str]:
    reports = await asyncio.gather(
        *(
            start_run("support", t, thread_id=f"{prefix}-{i}", db_url=db_url)
            for i, t in enumerate(tickets)
        )
    )
    assert [r.status for r in reports] == ["completed"] * RUNS
    return [r.thread_id for r in reports]


def _check(db_url: str, threads: list[str]) -> None:
    for thread_id in threads:
        assert count(db_url, "support_payments", thread_id) == 1
        assert count(db_url, "support_outbox", thread_id) == 1
        statuses = {
            row["status"]
            for row in query(
                db_url, "SELECT status FROM waypoint_ledger WHERE thread_id = ?", (thread_id,)
            )
        }
        assert statuses == {"committed"}


def test_concurrent_runs_sharing_open_stores(db_url: str) -> None:
    prefix = f"shared-{uuid.uuid4().hex[:6]}"
    tickets = _tickets(db_url, prefix)

    async def main() -> list[str]:
        async with open_stores(db_url):
            return await _batch(db_url, prefix, tickets)

    _check(db_url, run(main()))


def test_concurrent_runs_each_opening_stores(db_url: str) -> None:
    prefix = f"own-{uuid.uuid4().hex[:6]}"
    _check(db_url, run(_batch(db_url, prefix, _tickets(db_url, prefix))))


def test_same_thread_twice_in_one_process_is_busy(db_url: str) -> None:
    thread_id = f"twice-{uuid.uuid4().hex[:6]}"

    async def main() -> list[object]:
        async with open_stores(db_url):
            return await asyncio.gather(
                *(
                    start_run(
                        "support", demo_input("auto refund"), thread_id=thread_id, db_url=db_url
                    )
                    for _ in range(2)
                ),
                return_exceptions=True,
            )

    outcomes = run(main())
    busy = [o for o in outcomes if isinstance(o, ThreadBusy)]
    done = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(busy) == 1 and len(done) == 1, outcomes
    assert count(db_url, "support_payments", thread_id) == 1


def test_first_use_of_a_fresh_postgres_database_by_many_at_once() -> None:
    """Saver setup (`CREATE INDEX CONCURRENTLY`) while others wait for the setup lock."""
    with scratch_database("waypoint_fresh") as fresh:

        async def open_once() -> bool:
            async with open_stores(fresh) as stores:
                return (
                    await stores.checkpointer.aget_tuple({"configurable": {"thread_id": "x"}})
                    is None
                )

        async def main() -> list[bool]:
            return await asyncio.wait_for(asyncio.gather(*(open_once() for _ in range(10))), 60)

        assert run(main()) == [True] * 10


_OPEN_AT = """
import asyncio, sys, time
from waypoint.persistence.stores import open_stores

async def main() -> None:
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # all processes start together
    async with open_stores(sys.argv[1]) as stores:
        assert await stores.checkpointer.aget_tuple({"configurable": {"thread_id": "x"}}) is None
        assert stores.store is not None
        await stores.store.aput(("setup",), sys.argv[3], {"ok": True})

asyncio.run(main())
"""


def test_first_use_of_a_fresh_sqlite_file_by_many_processes_at_once(tmp_path: Path) -> None:
    """The saver, the Store and the tables set up once though 8 processes open a new file together.

    The Store's own setup applies its migrations one statement at a time; unserialised, two
    processes both add its `ttl_minutes` column and one fails ("duplicate column name").
    """
    url = f"sqlite:///{tmp_path / 'fresh' / 'waypoint.sqlite'}"
    start_at = time.time() + 3.0
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_AT, url, str(start_at), f"p{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    for process in processes:
        _out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    rows = query(url, "SELECT key FROM store WHERE prefix = 'setup' ORDER BY key")
    assert [row["key"] for row in rows] == [f"p{i}" for i in range(8)]
    versions = query(url, "SELECT v FROM store_migrations ORDER BY v")
    assert [row["v"] for row in versions] == list(range(len(versions)))

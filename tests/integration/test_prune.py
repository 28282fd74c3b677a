"""`waypoint prune`: finished threads shrink and stay readable; others are never touched."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

from tests.conftest import waypoint_cli
from tests.helpers import query
from waypoint.persistence.stores import open_stores
from waypoint.retention import prune
from waypoint.runner import resume_thread, start_run, thread_status

AUTO_REFUND = {
    "customer_id": "C-100",
    "order_id": "O-1",
    "message": "My mug arrived broken. I would like a refund, please.",
}
NEEDS_APPROVAL = {
    "customer_id": "C-200",
    "order_id": "O-2",
    "message": "The chair is damaged, please refund it.",
}


def _ticket(base: dict[str, str]) -> dict[str, str]:
    return {**base, "ticket_id": f"T-{uuid.uuid4().hex[:6]}"}


def test_prune_keeps_finished_threads_readable_and_skips_waiting_ones(db_url: str) -> None:
    async def scenario() -> None:
        done = await start_run("support", _ticket(AUTO_REFUND), db_url=db_url)
        waiting = await start_run("support", _ticket(NEEDS_APPROVAL), db_url=db_url)
        assert (done.status, waiting.status) == ("completed", "waiting")

        dry = await prune(db_url=db_url, thread_id=done.thread_id, dry_run=True)
        assert dry.threads == [done.thread_id]
        assert dry.rows_before > dry.rows_after

        pruned = await prune(db_url=db_url, thread_id=done.thread_id)
        assert pruned.rows_before > pruned.rows_after > 0
        assert pruned.bytes_before > pruned.bytes_after > 0
        again = await thread_status(done.thread_id, db_url=db_url)
        assert again.status == "completed"
        assert again.values["resolution"] == done.values["resolution"]

        untouched = await prune(db_url=db_url, thread_id=waiting.thread_id)
        assert untouched.threads == [] and waiting.thread_id in untouched.skipped
        answered = await resume_thread(
            waiting.thread_id, {"decisions": [{"type": "approve"}]}, db_url=db_url
        )
        assert answered.status == "completed"

    asyncio.run(scenario())


def test_prune_cli_reports_rows_and_bytes(sqlite_url: str) -> None:
    asyncio.run(start_run("support", _ticket(AUTO_REFUND), db_url=sqlite_url))
    result = waypoint_cli("prune", "--older-than", "0s", "--db", sqlite_url, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data["threads"]) == 1
    assert data["rows_reclaimed"] > 0 and data["bytes_reclaimed"] > 0
    bad = waypoint_cli("prune", "--older-than", "soon", "--db", sqlite_url)
    assert bad.returncode == 2 and "older-than" in bad.stderr


def test_prune_removes_the_stores_expired_items(db_url: str) -> None:
    """Memory kept with a TTL (research findings): readers skip it once expired, prune drops it."""
    namespace = ("prune-test", uuid.uuid4().hex[:8])
    prefix = ".".join(namespace)

    async def scenario() -> None:
        async with open_stores(db_url) as stores:
            assert stores.store is not None
            await stores.store.aput(namespace, "gone", {"v": 1}, ttl=0.001)  # 60 ms
            await stores.store.aput(namespace, "kept", {"v": 2}, ttl=60)
        await asyncio.sleep(1.5)  # SQLite's CURRENT_TIMESTAMP counts whole seconds
        # no thread is ten years old: the other tests' threads in this database are left alone
        decade = timedelta(days=3650)
        dry = await prune(db_url=db_url, dry_run=True, older_than=decade)
        assert dry.store_items_expired >= 1  # (other tests' expired items too, on Postgres)
        assert dry.threads == []
        assert {r["key"] for r in query(db_url, _KEYS, (prefix,))} == {"gone", "kept"}
        swept = await prune(db_url=db_url, older_than=decade)
        assert swept.store_items_expired >= 1
        assert [r["key"] for r in query(db_url, _KEYS, (prefix,))] == ["kept"]

    asyncio.run(scenario())


_KEYS = "SELECT key FROM store WHERE prefix = ?"

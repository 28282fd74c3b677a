"""`Database.batch`: writes and a query applied atomically, on both backends."""

from __future__ import annotations

import sqlite3
import uuid

import psycopg
import pytest

from tests.helpers import is_sqlite, run
from waypoint.persistence.sql import PostgresDatabase, open_postgres_pool
from waypoint.persistence.stores import open_stores


def test_batch_applies_writes_then_returns_the_query_rows(db_url: str) -> None:
    thread = f"batch-{uuid.uuid4().hex[:8]}"

    async def main() -> tuple[list[dict[str, object]], list[dict[str, object]]]:
        async with open_stores(db_url) as stores:
            db = stores.db
            await db.execute(
                "INSERT INTO waypoint_kills (thread_id, reason, requested_by, requested_at) "
                "VALUES (:t, 'first', 'me', 'then')",
                {"t": thread},
            )
            rows = await db.batch(
                [
                    (
                        "UPDATE waypoint_kills SET reason = :reason WHERE thread_id = :t",
                        {"reason": "changed", "t": thread},
                    ),
                    (
                        "INSERT INTO waypoint_kills (thread_id, reason, requested_by, "
                        "requested_at) VALUES (:t, 'second', 'me', 'now')",
                        {"t": thread + "-b"},
                    ),
                ],
                (
                    "SELECT count(*) AS n FROM waypoint_kills WHERE thread_id LIKE :prefix",
                    {"prefix": thread + "%"},
                ),
            )
            after = await db.fetchall(
                "SELECT thread_id, reason FROM waypoint_kills WHERE thread_id LIKE :prefix "
                "ORDER BY thread_id",
                {"prefix": thread + "%"},
            )
            return rows, after

    rows, after = run(main())
    # Postgres runs the batch as one statement: its query sees the snapshot before the writes
    assert rows[0]["n"] == (2 if is_sqlite(db_url) else 1)
    assert after == [
        {"thread_id": thread, "reason": "changed"},
        {"thread_id": thread + "-b", "reason": "second"},
    ]


def test_a_failing_write_rolls_the_whole_batch_back(db_url: str) -> None:
    thread = f"batch-{uuid.uuid4().hex[:8]}"

    async def main() -> int:
        async with open_stores(db_url) as stores:
            db = stores.db
            with pytest.raises((sqlite3.IntegrityError, psycopg.errors.NotNullViolation)):
                await db.batch(
                    [
                        (
                            "INSERT INTO waypoint_kills (thread_id, reason, requested_by, "
                            "requested_at) VALUES (:t, 'kept?', 'me', 'now')",
                            {"t": thread},
                        ),
                        (
                            "INSERT INTO waypoint_kills (thread_id, reason, requested_by, "
                            "requested_at) VALUES (:t, NULL, 'me', 'now')",
                            {"t": thread + "-bad"},
                        ),
                    ]
                )
            row = await db.fetchone(
                "SELECT count(*) AS n FROM waypoint_kills WHERE thread_id LIKE :prefix",
                {"prefix": thread + "%"},
            )
            assert row is not None
            return int(row["n"])

    assert run(main()) == 0


def test_relaxed_batches_skip_the_disk_wait_on_their_own_connection(pg_url: str) -> None:
    async def main() -> list[str]:
        pool = await open_postgres_pool(pg_url, max_size=1)
        try:
            db = PostgresDatabase(pool)
            show = ("SHOW synchronous_commit", None)
            relaxed = await db.batch([], show, relaxed=True)
            await db.close()  # gives the session back to the pool, setting undone
            after = await db.fetchall(*show)  # the pool's only connection: the same one
            return [relaxed[0]["synchronous_commit"], after[0]["synchronous_commit"]]
        finally:
            await pool.close()

    assert run(main()) == ["off", "on"]

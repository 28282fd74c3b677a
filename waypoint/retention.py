"""Retention: remove old checkpoints of finished threads, keeping each one resumable and readable.

Only threads whose index says `completed` or `failed`, that have no pending interrupt and that no
process holds, are pruned. Each keeps its newest `keep_last` checkpoints, so its final state,
`status` and `resume` still work (a failed thread also keeps every checkpoint from the one
`resume` restarts it from); the thread index row (its summary) is never removed. On
Postgres with `keep_last=1` this is the saver's own `aprune(strategy="keep_latest")`; otherwise
plain SQL over the saver's tables, removing blobs no kept checkpoint refers to.

A prune of the whole database (no `thread_id`) also removes the LangGraph Store's expired items
(the Store's own `sweep_ttl`: items written with a TTL, such as `research`'s findings). No
reader ever sees them (the Store leaves expired items out), but nothing else deletes them: the
command line runs no sweeper thread, and neither does Aegra on its Store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.store.postgres.aio import AsyncPostgresStore
from langgraph.store.sqlite.aio import AsyncSqliteStore

from waypoint.encryption import EncryptionKeyError
from waypoint.errors import BadInput, ThreadBusy
from waypoint.input_checks import check_count, check_thread_id, shown
from waypoint.persistence.sql import Database, Executor
from waypoint.persistence.stores import Stores, open_stores
from waypoint.persistence.thread_lock import hold_thread
from waypoint.runner import _last_good_checkpoint, _load, current_report

_DURATION = re.compile(r"([0-9]{1,12})([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_DURATION = timedelta(days=100 * 366)
"""Longest `--older-than` / `--since` accepted: a century (dates before year 1 do not exist)."""
FINISHED = ("completed", "failed")


def parse_duration(text: str, *, field: str = "older-than") -> timedelta:
    """`30m`, `12h`, `7d`, `2w` → a timedelta of at most `MAX_DURATION`; else `BadInput`."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise BadInput(
            f"{field}: expected a number and a unit (s, m, h, d, w), e.g. 7d; got {shown(text)}",
            field=field,
        )
    try:
        duration = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError:  # past timedelta's own limit
        duration = MAX_DURATION + timedelta(days=1)
    if duration > MAX_DURATION:
        raise BadInput(
            f"{field}: expected at most {MAX_DURATION.days:,} days; got {shown(text)}", field=field
        )
    return duration


@dataclass
class PruneReport:
    """What a prune removed (or would remove, with `dry_run`)."""

    dry_run: bool
    threads: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    rows_before: int = 0
    rows_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    store_items_expired: int = 0
    """Expired Store items removed (counted, with `dry_run`); a prune of one thread sweeps none."""

    def as_json(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "dry_run": self.dry_run,
            "threads": self.threads,
            "skipped": self.skipped,
            "rows_before": self.rows_before,
            "rows_after": self.rows_after,
            "rows_reclaimed": self.rows_before - self.rows_after,
            "store_items_expired": self.store_items_expired,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "bytes_reclaimed": self.bytes_before - self.bytes_after,
        }


_SQLITE_SIZE = """
SELECT
  (SELECT count(*) FROM checkpoints WHERE thread_id = :t) +
  (SELECT count(*) FROM writes WHERE thread_id = :t) AS rows,
  (SELECT coalesce(sum(length(checkpoint) + length(metadata)), 0)
     FROM checkpoints WHERE thread_id = :t) +
  (SELECT coalesce(sum(length(value)), 0) FROM writes WHERE thread_id = :t) AS bytes
"""

_POSTGRES_SIZE = """
SELECT
  (SELECT count(*) FROM checkpoints WHERE thread_id = :t) +
  (SELECT count(*) FROM checkpoint_writes WHERE thread_id = :t) +
  (SELECT count(*) FROM checkpoint_blobs WHERE thread_id = :t) AS rows,
  (SELECT coalesce(sum(pg_column_size(c.*)), 0) FROM checkpoints c WHERE thread_id = :t) +
  (SELECT coalesce(sum(pg_column_size(w.*)), 0) FROM checkpoint_writes w WHERE thread_id = :t) +
  (SELECT coalesce(sum(pg_column_size(b.*)), 0) FROM checkpoint_blobs b WHERE thread_id = :t)
  AS bytes
"""


async def _size(db: Executor, thread_id: str) -> tuple[int, int]:
    sql = _POSTGRES_SIZE if db.kind == "postgres" else _SQLITE_SIZE
    row = await db.fetchone(sql, {"t": thread_id})
    assert row is not None
    return int(row["rows"]), int(row["bytes"])


_KEEP = (
    "SELECT checkpoint_id FROM checkpoints WHERE thread_id = :t AND checkpoint_ns = '' "
    "ORDER BY checkpoint_id DESC LIMIT :n"
)


async def _oldest_kept(
    db: Executor, thread_id: str, keep_last: int, restart: str | None
) -> str | None:
    """The oldest checkpoint kept: of the newest `keep_last`, and the restart point if any."""
    keep = [
        row["checkpoint_id"] for row in await db.fetchall(_KEEP, {"t": thread_id, "n": keep_last})
    ]
    if not keep:
        return None
    return str(min([*keep, restart] if restart is not None else keep))


async def _restart_point(stores: Stores, thread_id: str) -> str | None:
    """The checkpoint `resume` continues a failed thread from (None for a completed one)."""
    workflow, _, _ = await _load(stores, thread_id)
    graph = workflow.compile(stores.checkpointer)
    report = await current_report(graph, thread_id, workflow.name)
    if report.status != "failed":
        return None
    failed_node = str((report.values.get("failure") or {}).get("node", ""))
    restart = await _last_good_checkpoint(graph, thread_id, failed_node)
    return None if restart is None else str(restart["configurable"]["checkpoint_id"])


async def _reclaimable(
    db: Executor, thread_id: str, keep_last: int, restart: str | None
) -> tuple[int, int]:
    """Checkpoints and writes older than the kept ones (blobs are not estimated)."""
    oldest = await _oldest_kept(db, thread_id, keep_last, restart)
    if oldest is None:
        return 0, 0
    writes, value = ("checkpoint_writes", "blob") if db.kind == "postgres" else ("writes", "value")
    size = "pg_column_size" if db.kind == "postgres" else "length"
    row = await db.fetchone(
        f"SELECT (SELECT count(*) FROM checkpoints WHERE thread_id = :t AND checkpoint_ns = '' "
        f"AND checkpoint_id < :oldest) + (SELECT count(*) FROM {writes} WHERE thread_id = :t "
        f"AND checkpoint_ns = '' AND checkpoint_id < :oldest) AS rows, "
        f"(SELECT coalesce(sum({size}(checkpoint) + {size}(metadata)), 0) FROM checkpoints "
        f"WHERE thread_id = :t AND checkpoint_ns = '' AND checkpoint_id < :oldest) + "
        f"(SELECT coalesce(sum({size}({value})), 0) FROM {writes} WHERE thread_id = :t "
        f"AND checkpoint_ns = '' AND checkpoint_id < :oldest) AS bytes",
        {"t": thread_id, "oldest": oldest},
    )
    assert row is not None
    return int(row["rows"]), int(row["bytes"])


async def _prune_with_sql(
    db: Database, thread_id: str, keep_last: int, restart: str | None
) -> None:
    writes = "checkpoint_writes" if db.kind == "postgres" else "writes"
    async with db.transaction(lock_key=f"prune:{thread_id}") as tx:
        oldest = await _oldest_kept(tx, thread_id, keep_last, restart)
        if oldest is None:
            return
        params = {"t": thread_id, "oldest": oldest}
        await tx.execute(
            f"DELETE FROM {writes} WHERE thread_id = :t AND checkpoint_ns = '' "
            "AND checkpoint_id < :oldest",
            params,
        )
        await tx.execute(
            "DELETE FROM checkpoints WHERE thread_id = :t AND checkpoint_ns = '' "
            "AND checkpoint_id < :oldest",
            params,
        )
        if db.kind == "postgres":
            await tx.execute(
                "DELETE FROM checkpoint_blobs b WHERE b.thread_id = :t AND NOT EXISTS ("
                "SELECT 1 FROM checkpoints c WHERE c.thread_id = b.thread_id "
                "AND c.checkpoint_ns = b.checkpoint_ns "
                "AND c.checkpoint -> 'channel_versions' ->> b.channel = b.version)",
                {"t": thread_id},
            )


async def _candidates(
    stores: Stores, *, thread_id: str | None, older_than: timedelta | None
) -> list[dict[str, Any]]:
    clauses = ["status IN ('completed', 'failed')"]
    params: dict[str, Any] = {}
    if thread_id is not None:
        clauses.append("thread_id = :thread_id")
        params["thread_id"] = thread_id
    if older_than is not None:
        clauses.append("updated_at < :cutoff")
        params["cutoff"] = (datetime.now(UTC) - older_than).isoformat()
    return await stores.db.fetchall(
        f"SELECT thread_id, status FROM waypoint_threads WHERE {' AND '.join(clauses)} "
        "ORDER BY updated_at",
        params,
    )


async def prune(
    *,
    db_url: str | None = None,
    older_than: timedelta | None = None,
    keep_last: int = 1,
    thread_id: str | None = None,
    dry_run: bool = False,
) -> PruneReport:
    """Prune finished threads; report rows and bytes before and after."""
    if keep_last < 1:
        raise BadInput("keep-last: must be at least 1 (the final state is kept)", field="keep-last")
    check_count(keep_last, "keep-last")
    if thread_id is not None:
        check_thread_id(thread_id)
    report = PruneReport(dry_run=dry_run)
    async with open_stores(db_url) as stores:
        if thread_id is not None:
            row = await stores.db.fetchone(
                "SELECT status FROM waypoint_threads WHERE thread_id = :t", {"t": thread_id}
            )
            if row is None:
                raise BadInput(f"thread: no thread {thread_id!r}", field="thread")
            if row["status"] not in FINISHED:
                report.skipped[thread_id] = f"{row['status']}: only finished threads are pruned"
        for candidate in await _candidates(stores, thread_id=thread_id, older_than=older_than):
            tid = str(candidate["thread_id"])
            try:
                async with hold_thread(stores.url, stores.db, tid):
                    # a failed thread keeps what `resume` restarts it from
                    restart = await _restart_point(stores, tid)
                    rows, size = await _size(stores.db, tid)
                    report.rows_before += rows
                    report.bytes_before += size
                    if dry_run:
                        gone_rows, gone_bytes = await _reclaimable(
                            stores.db, tid, keep_last, restart
                        )
                        rows, size = rows - gone_rows, size - gone_bytes
                    else:
                        saver = stores.checkpointer
                        if keep_last == 1 and restart is None:
                            if isinstance(saver, AsyncPostgresSaver):
                                await saver.aprune([tid], strategy="keep_latest")
                            else:
                                await _prune_with_sql(stores.db, tid, keep_last, None)
                        else:
                            await _prune_with_sql(stores.db, tid, keep_last, restart)
                        rows, size = await _size(stores.db, tid)
                    report.rows_after += rows
                    report.bytes_after += size
                    report.threads.append(tid)
            except ThreadBusy:
                report.skipped[tid] = "held by a running process"
            except EncryptionKeyError as unreadable:  # read before anything is deleted
                if thread_id is not None:
                    raise
                report.skipped[tid] = f"not readable with the keys configured here: {unreadable}"
        if thread_id is None:
            report.store_items_expired = await _sweep_store(stores, dry_run=dry_run)
    return report


async def _sweep_store(stores: Stores, *, dry_run: bool) -> int:
    """Remove (or count) the Store's items past their TTL; how many."""
    if dry_run:
        now = "CURRENT_TIMESTAMP" if stores.db.kind == "sqlite" else "now()"
        row = await stores.db.fetchone(
            f"SELECT count(*) AS n FROM store WHERE expires_at IS NOT NULL AND expires_at < {now}"
        )
        return int(row["n"]) if row is not None else 0
    if isinstance(stores.store, AsyncPostgresStore | AsyncSqliteStore):
        return await stores.store.sweep_ttl()
    return 0

"""One writer per thread, really: fencing tokens checked by the database itself.

A writer can lose its thread's lock and run on (its Postgres session terminated; on SQLite, the
lock file removed under it). Another writer then takes the thread, and the first must stop at
its next write: the database refuses its checkpoints (a trigger on the saver's table) and its
side effects (checked in their transaction), so the history stays linear, the payment is made
once, and the first writer exits 5 without claiming anything. Real processes, real Postgres,
real SQLite files; the lock is lost the way it is lost in production.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import sqlite3
import stat
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import psycopg
import pytest
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.types import Command

from state.support import SupportContext
from tests.conftest import waypoint_cli
from tests.helpers import is_sqlite, query, run, sqlite_path, start_paused
from waypoint.errors import ThreadBusy, ThreadTakenOver
from waypoint.persistence.migrations import migrate
from waypoint.persistence.side_effects import perform_once
from waypoint.persistence.sql import Executor, PostgresDatabase, SqliteDatabase
from waypoint.persistence.stores import Stores, open_stores
from waypoint.persistence.thread_lock import hold_thread, lock_file
from waypoint.persistence.writer_fence import FENCE_KEY, REFUSAL
from waypoint.runner import execute, resume_thread, start_run
from waypoint.workflows import load_workflow

T = TypeVar("T")

NEEDS_APPROVAL = {
    "customer_id": "C-200",
    "order_id": "O-2",
    "message": "The chair is damaged, please refund it.",
}


# --- what the database holds, read with plain connections ---------------------------------------


def _checkpoint_ids(db_url: str, thread_id: str) -> set[str]:
    found = query(db_url, "SELECT checkpoint_id FROM checkpoints WHERE thread_id = ?", (thread_id,))
    return {str(row["checkpoint_id"]) for row in found}


def _forks(db_url: str, thread_id: str) -> list[str]:
    """Root checkpoints with more than one child: empty for one linear history."""
    links = query(
        db_url,
        "SELECT parent_checkpoint_id AS parent FROM checkpoints WHERE thread_id = ? "
        "AND checkpoint_ns = '' AND parent_checkpoint_id IS NOT NULL",
        (thread_id,),
    )
    parents = [str(row["parent"]) for row in links]
    return sorted({p for p in parents if parents.count(p) > 1})


def _count(db_url: str, table: str, thread_id: str) -> int:
    return len(query(db_url, f"SELECT 1 FROM {table} WHERE thread_id = ?", (thread_id,)))


def _execute_rows(db_url: str, thread_id: str) -> list[dict[str, Any]]:
    return query(
        db_url,
        "SELECT run_id, status FROM waypoint_ledger WHERE thread_id = ? AND node = 'execute'",
        (thread_id,),
    )


def _thread_status(db_url: str, thread_id: str) -> str:
    [row] = query(db_url, "SELECT status FROM waypoint_threads WHERE thread_id = ?", (thread_id,))
    return str(row["status"])


def _insert_checkpoint(db_url: str, thread_id: str, metadata: dict[str, Any]) -> str | None:
    """Insert a checkpoint row by hand, as any writer could; the refusal's message, or None."""
    checkpoint_id = str(uuid.uuid4())
    try:
        if is_sqlite(db_url):
            with sqlite3.connect(sqlite_path(db_url)) as conn:
                conn.execute(
                    "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, "
                    "parent_checkpoint_id, type, checkpoint, metadata) "
                    "VALUES (?, '', ?, NULL, 'msgpack', X'80', ?)",
                    (thread_id, checkpoint_id, json.dumps(metadata).encode()),
                )
        else:
            with psycopg.connect(db_url, autocommit=True) as pg:
                pg.execute(
                    "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, "
                    "parent_checkpoint_id, type, checkpoint, metadata) "
                    "VALUES (%s, '', %s, NULL, 'json', '{}'::jsonb, %s::jsonb)",
                    (thread_id, checkpoint_id, json.dumps(metadata)),
                )
    except (sqlite3.Error, psycopg.Error) as exc:
        return str(exc)
    return None


# --- losing a lock, and taking the thread over ---------------------------------------------------


def _advisory_lock_holder(db_url: str, thread_id: str) -> int:
    """The Postgres backend holding the thread's writer lock (there must be exactly one)."""
    holders = query(
        db_url,
        "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND d.datname = current_database() "
        "AND ((l.classid::bigint << 32) | l.objid::bigint) "
        "= hashtextextended('waypoint-thread:' || ?, 0)",
        (thread_id,),
    )
    assert len(holders) == 1, holders
    return int(holders[0]["pid"])


def _terminate(db_url: str, pid: int) -> None:
    """`pg_terminate_backend`, waiting until the backend is gone (its locks with it)."""
    [row] = query(db_url, "SELECT pg_terminate_backend(?, 10000) AS gone", (pid,))
    assert row["gone"] is True


async def _lose_lock(db_url: str, stores: Stores, thread_id: str) -> None:
    """Make `stores`' process lose the thread's lock while it runs on, unaware."""
    if is_sqlite(db_url):
        # a clean-up job removed the lock file: the next writer locks a new file
        lock_file(sqlite_path(db_url), thread_id).unlink()
    else:
        assert isinstance(stores.db, PostgresDatabase)
        session = await stores.db.session()
        cursor = await session.execute("SELECT pg_backend_pid() AS pid")
        row = await cursor.fetchone()
        assert row is not None
        _terminate(db_url, int(row["pid"]))


async def _elsewhere(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` as another process would: its own stores, none of this context's."""
    return await asyncio.create_task(coro, context=contextvars.Context())


async def _acquire_once(db_url: str, thread_id: str) -> int:
    async with (
        open_stores(db_url) as stores,
        hold_thread(stores.url, stores.db, thread_id) as fence,
    ):
        return fence


class _Gate(AsyncCallbackHandler):
    """Holds a run before `node`'s body (the first time) until `release` is set."""

    run_inline = True

    def __init__(self, node: str) -> None:
        self.node = node
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def on_chain_start(
        self, serialized: Any, inputs: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        node = (kwargs.get("metadata") or {}).get("langgraph_node")
        if node == self.node and kwargs.get("name") == node and not self.entered.is_set():
            self.entered.set()
            await self.release.wait()


async def _run_held_then_taken_over(
    db_url: str, thread_id: str, graph_input: Any, gate_at: str, takeover: Coroutine[Any, Any, T]
) -> tuple[BaseException | None, T]:
    """Writer A runs `graph_input` on the thread under its lock, stopped before `gate_at`; A
    loses the lock, `takeover` runs elsewhere (writer B), then A goes on. A's error, B's result.
    """
    workflow = load_workflow("support")
    gate = _Gate(gate_at)
    async with open_stores(db_url) as stores, hold_thread(stores.url, stores.db, thread_id):
        graph = workflow.compile(stores.checkpointer)
        config: RunnableConfig = {
            "configurable": {"thread_id": thread_id, "waypoint_actor": "writer-a"},
            "callbacks": [gate],
        }
        writer_a = asyncio.create_task(
            execute(stores, workflow, graph, graph_input, config, SupportContext())
        )
        await asyncio.wait_for(gate.entered.wait(), 60)
        await _lose_lock(db_url, stores, thread_id)
        result = await _elsewhere(takeover)
        gate.release.set()
        try:
            await writer_a
        except Exception as exc:
            return exc, result
        return None, result


# --- the tests -----------------------------------------------------------------------------------


@pytest.mark.postgres
def test_terminated_lock_session_cannot_fork_the_history(pg_url: str, tmp_path: Path) -> None:
    """The attack: kill A's lock session mid-run, B resumes the thread, then A goes on."""
    thread = f"fence-{uuid.uuid4().hex[:10]}"
    ticket = {**NEEDS_APPROVAL, "ticket_id": f"T-{uuid.uuid4().hex[:6]}"}
    started = waypoint_cli(
        "run", "support", "--input", json.dumps(ticket), "--thread", thread, "--db", pg_url
    )
    assert started.returncode == 3, started.stderr

    writer_a = start_paused(
        ["resume", thread, "--approve", "--db", pg_url], "before:execute", tmp_path, releasable=True
    )
    try:
        _terminate(pg_url, _advisory_lock_holder(pg_url, thread))
        writer_b = waypoint_cli("resume", thread, "--db", pg_url, "--json")
        assert writer_b.returncode == 0, writer_b.stderr
        assert json.loads(writer_b.stdout)["status"] == "completed"
        after_b = _checkpoint_ids(pg_url, thread)

        (tmp_path / "release").touch()
        _, err = writer_a.communicate(timeout=120)
    finally:
        writer_a.kill()
    assert writer_a.returncode == 5, err
    assert f"thread {thread} was taken over by another writer" in err
    assert f"waypoint status {thread}" in err
    assert _checkpoint_ids(pg_url, thread) == after_b  # A wrote no checkpoint after B's
    assert _forks(pg_url, thread) == []
    assert _count(pg_url, "support_payments", thread) == 1
    executed = _execute_rows(pg_url, thread)
    assert [row["status"] for row in executed].count("committed") == 1, executed
    assert _thread_status(pg_url, thread) == "completed"  # A did not index its own ending


def test_a_run_that_lost_its_lock_stops_at_its_next_side_effect(db_url: str) -> None:
    """Both backends, in one process: A stopped before `execute` loses the lock, B finishes."""
    thread = f"fence-{uuid.uuid4().hex[:10]}"
    ticket = {**NEEDS_APPROVAL, "ticket_id": f"T-{uuid.uuid4().hex[:6]}"}
    assert run(start_run("support", ticket, thread_id=thread, db_url=db_url)).status == "waiting"
    before = _checkpoint_ids(db_url, thread)

    error, finished = run(
        _run_held_then_taken_over(
            db_url,
            thread,
            Command(resume={"decisions": [{"type": "approve"}]}),
            "execute",
            resume_thread(thread, db_url=db_url),
        )
    )
    assert finished.status == "completed"
    assert isinstance(error, ThreadTakenOver), error
    assert error.exit_code == 5
    assert "fence 2 < 3" in str(error), error  # start_run held 1, A 2, B 3
    assert before < _checkpoint_ids(db_url, thread)
    assert _forks(db_url, thread) == []
    assert _count(db_url, "support_payments", thread) == 1
    assert _count(db_url, "support_outbox", thread) == 1
    statuses = [row["status"] for row in _execute_rows(db_url, thread)]
    assert statuses.count("committed") == 1, statuses
    assert not {"started", "returned", "error"} & set(statuses), statuses  # nothing left pending


def test_a_run_that_lost_its_lock_and_only_reached_a_question_is_told(db_url: str) -> None:
    """An interrupt saves no checkpoint, so nothing is refused: the run's end checks the fence."""
    thread = f"fence-{uuid.uuid4().hex[:10]}"
    ticket = {**NEEDS_APPROVAL, "ticket_id": f"T-{uuid.uuid4().hex[:6]}"}
    assert run(start_run("support", ticket, thread_id=thread, db_url=db_url)).status == "waiting"

    error, finished = run(
        _run_held_then_taken_over(
            db_url,
            thread,
            None,  # continue: `approval` asks again
            "approval",
            resume_thread(thread, {"decisions": [{"type": "approve"}]}, db_url=db_url),
        )
    )
    assert finished.status == "completed"
    assert isinstance(error, ThreadTakenOver), error
    assert _forks(db_url, thread) == []
    assert _count(db_url, "support_payments", thread) == 1
    assert _thread_status(db_url, thread) == "completed"


def test_the_same_sqlite_file_through_a_symlink_is_one_lock(tmp_path: Path) -> None:
    real = tmp_path / "data" / "waypoint.sqlite"
    real.parent.mkdir()
    (tmp_path / "alias").symlink_to(real.parent, target_is_directory=True)
    (tmp_path / "alias.sqlite").symlink_to(real)
    real_url = f"sqlite:///{real}"
    thread = f"link-{uuid.uuid4().hex[:10]}"
    ticket = {**NEEDS_APPROVAL, "ticket_id": f"T-{uuid.uuid4().hex[:6]}"}
    holder = start_paused(
        ["run", "support", "--input", json.dumps(ticket), "--thread", thread, "--db", real_url],
        "before:lookup",
        tmp_path,
    )
    try:
        checkpoints = _checkpoint_ids(real_url, thread)
        for other in (
            tmp_path / "alias" / "waypoint.sqlite",
            tmp_path / "alias.sqlite",
            tmp_path / "data" / ".." / "alias" / "waypoint.sqlite",
        ):
            second = waypoint_cli("resume", thread, "--db", f"sqlite:///{other}")
            assert second.returncode == 5, (other, second.stdout, second.stderr)
            assert "busy" in second.stderr and f":{holder.pid}" in second.stderr
        relative = os.path.relpath(tmp_path / "alias" / ".." / "data" / "waypoint.sqlite")
        second = waypoint_cli("resume", thread, "--db", f"sqlite:///{relative}")
        assert second.returncode == 5, second.stderr
        assert _checkpoint_ids(real_url, thread) == checkpoints
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_the_database_refuses_a_checkpoint_with_a_stale_token(db_url: str) -> None:
    thread = f"trigger-{uuid.uuid4().hex[:10]}"
    stale = run(_acquire_once(db_url, thread))
    current = run(_acquire_once(db_url, thread))
    assert current == stale + 1

    refused = _insert_checkpoint(db_url, thread, {"source": "loop", "step": 1, FENCE_KEY: stale})
    assert refused is not None and REFUSAL in refused
    refused = _insert_checkpoint(db_url, thread, {"source": "loop", FENCE_KEY: current + 1})
    assert refused is not None and REFUSAL in refused
    unheld = f"never-held-{uuid.uuid4().hex[:8]}"
    refused = _insert_checkpoint(db_url, unheld, {"source": "loop", FENCE_KEY: 1})
    assert refused is not None and REFUSAL in refused
    assert _insert_checkpoint(db_url, thread, {"source": "loop", FENCE_KEY: current}) is None
    # no token: a LangGraph server's own run, or a plain `graph.ainvoke`
    assert _insert_checkpoint(db_url, thread, {"source": "loop", "step": 2}) is None
    assert _insert_checkpoint(db_url, unheld, {"source": "input"}) is None
    assert len(_checkpoint_ids(db_url, thread)) == 2


def test_any_refused_write_leaves_the_lock_as_taken_over(db_url: str) -> None:
    """Whatever wrote (a fork's `update_state`, a script), the holder learns it lost the thread."""
    thread = f"trigger-{uuid.uuid4().hex[:10]}"

    async def scenario() -> None:
        async with open_stores(db_url) as stores:
            with pytest.raises(ThreadTakenOver, match=r"fence 1 < 2\)") as taken:
                async with hold_thread(stores.url, stores.db, thread) as fence:
                    await _lose_lock(db_url, stores, thread)
                    await _elsewhere(_acquire_once(db_url, thread))
                    config: RunnableConfig = {
                        "configurable": {"thread_id": thread, "checkpoint_ns": ""},
                        "metadata": {FENCE_KEY: fence},
                    }
                    await stores.checkpointer.aput(
                        config, empty_checkpoint(), {"source": "update", "step": 0}, {}
                    )
            assert REFUSAL in str(taken.value.__cause__)

    run(scenario())
    assert _checkpoint_ids(db_url, thread) == set()


def test_a_refused_save_releases_the_sqlite_write_lock(sqlite_url: str) -> None:
    """The saver's refused insert is rolled back, not left holding the file's write lock."""
    thread = f"trigger-{uuid.uuid4().hex[:10]}"

    async def scenario() -> None:
        async with open_stores(sqlite_url) as stores:
            async with hold_thread(stores.url, stores.db, thread) as fence:
                pass
            await _elsewhere(_acquire_once(sqlite_url, thread))
            config: RunnableConfig = {
                "configurable": {"thread_id": thread, "checkpoint_ns": ""},
                "metadata": {FENCE_KEY: fence},
            }
            with pytest.raises(sqlite3.IntegrityError, match=REFUSAL):
                await stores.checkpointer.aput(
                    config, empty_checkpoint(), {"source": "input", "step": -1}, {}
                )
            with sqlite3.connect(sqlite_path(sqlite_url), timeout=0.2) as other:
                other.execute("BEGIN IMMEDIATE")  # "database is locked" if it were still held
                other.execute("ROLLBACK")

    run(scenario())
    assert _checkpoint_ids(sqlite_url, thread) == set()


def test_a_side_effect_with_a_stale_token_does_nothing(db_url: str) -> None:
    thread = f"effect-{uuid.uuid4().hex[:10]}"
    applied: list[str] = []

    async def apply(tx: Executor) -> dict[str, Any]:
        applied.append("paid")
        return {"paid": True}

    async def scenario() -> None:
        async with open_stores(db_url) as stores, hold_thread(stores.url, stores.db, thread):
            await _lose_lock(db_url, stores, thread)
            await _elsewhere(_acquire_once(db_url, thread))
            with pytest.raises(ThreadTakenOver, match="taken over by another writer"):
                await perform_once(
                    stores.db, key=f"{thread}:pay", thread_id=thread, kind="test.pay", apply=apply
                )

    run(scenario())
    assert applied == []
    assert _count(db_url, "waypoint_side_effects", thread) == 0


def test_a_busy_thread_is_still_refused_before_anything_is_written(db_url: str) -> None:
    thread = f"busy-{uuid.uuid4().hex[:10]}"

    async def scenario() -> int:
        async with open_stores(db_url) as stores, hold_thread(stores.url, stores.db, thread):
            with pytest.raises(ThreadBusy) as busy:
                await _elsewhere(_acquire_once(db_url, thread))
            assert not isinstance(busy.value, ThreadTakenOver)
        return await _acquire_once(db_url, thread)

    assert run(scenario()) == 2  # the refused attempt handed out no token


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_lock_folder_and_files_are_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    url = f"sqlite:///{tmp_path / 'waypoint.sqlite'}"
    previous = os.umask(umask)
    try:
        run(_acquire_once(url, "private"))
        # left by an older version, or by hand: tightened on the next use
        older = lock_file(tmp_path / "waypoint.sqlite", "older")
        older.touch(mode=0o666)
        older.chmod(0o644)
        older.parent.chmod(0o755)
        run(_acquire_once(url, "older"))
    finally:
        os.umask(previous)
    folder = tmp_path / "waypoint.sqlite.locks"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("private", "older"):
        assert stat.S_IMODE(lock_file(tmp_path / "waypoint.sqlite", name).stat().st_mode) == 0o600


def test_the_fence_waits_for_the_savers_table_and_is_applied_once(tmp_path: Path) -> None:
    """A database without checkpoint tables (a server that keeps them elsewhere) gets the
    Waypoint tables; the fence follows once the saver has made its table, once."""
    path = tmp_path / "server-side.sqlite"

    async def scenario() -> None:
        db = await SqliteDatabase.open(str(path))
        try:
            await migrate(db)
            assert await _fence_state(db) == (0, 0)
        finally:
            await db.close()
        async with open_stores(f"sqlite:///{path}"):
            pass
        db = await SqliteDatabase.open(str(path))
        try:
            await asyncio.gather(migrate(db), migrate(db))
            assert await _fence_state(db) == (1, 1)
        finally:
            await db.close()

    run(scenario())


async def _fence_state(db: SqliteDatabase) -> tuple[int, int]:
    """(fence migrations recorded, fence triggers installed) in an SQLite database."""
    recorded = await db.fetchone(
        "SELECT count(*) AS n FROM waypoint_schema_migrations "
        "WHERE component = 'waypoint_checkpoints'"
    )
    triggers = await db.fetchone(
        "SELECT count(*) AS n FROM sqlite_master WHERE type = 'trigger' "
        "AND name = 'waypoint_writer_fence'"
    )
    assert recorded is not None and triggers is not None
    return int(recorded["n"]), int(triggers["n"])

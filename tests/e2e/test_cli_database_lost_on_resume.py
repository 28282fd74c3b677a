"""A Postgres connection dropped during `waypoint resume` is one clear line and exit 1.

The real command runs in its own process, frozen at a pause point (`waypoint.faults`); the test
terminates every backend of its database (`pg_terminate_backend`, what an administrator or a
failover does: the client sees `AdminShutdown` or a closed connection), then lets it go on. It
must report the lost database in one line, naming the thread and `waypoint resume`, with no
traceback, and the thread must stay resumable once the database is back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import ADMIN_URL, PROJECT_ROOT, scratch_database, waypoint_cli
from tests.helpers import demo_input, query, run, start_paused
from waypoint.runner import start_run


@pytest.fixture
def own_pg_url() -> Iterator[str]:
    """A database of this test alone, so terminating its backends touches nobody else."""
    with scratch_database("waypoint_lost") as url:
        yield url


def terminate_backends(db_url: str) -> int:
    name = db_url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)


@pytest.mark.parametrize("point", ["before:approval", "after:execute"])
def test_a_dropped_connection_during_resume_is_reported_not_a_traceback(
    own_pg_url: str, tmp_path: Path, point: str
) -> None:
    thread = f"lost-{uuid.uuid4().hex[:10]}"
    report = run(
        start_run("support", demo_input("approval needed"), thread_id=thread, db_url=own_pg_url)
    )
    assert report.status == "waiting"
    proc = start_paused(
        ["resume", thread, "--approve", "--db", own_pg_url], point, tmp_path, releasable=True
    )
    try:
        assert terminate_backends(own_pg_url) >= 1
        (tmp_path / "release").write_text("go")
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out + err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: lost the database"), err
    assert thread in lines[0] and f"waypoint resume {thread}" in lines[0]
    # the database is back: the thread is readable and finishes, paying exactly once
    status = waypoint_cli("status", thread, "--json", "--db", own_pg_url)
    assert "Traceback" not in status.stderr
    where = json.loads(status.stdout)["status"]
    if where == "waiting":
        waypoint_cli("resume", thread, "--approve", "--db", own_pg_url)
    elif where != "completed":
        waypoint_cli("resume", thread, "--db", own_pg_url)
    final = waypoint_cli("status", thread, "--json", "--db", own_pg_url)
    assert json.loads(final.stdout)["status"] == "completed", final.stdout + final.stderr
    paid = query(own_pg_url, "SELECT amount FROM support_payments WHERE thread_id = ?", (thread,))
    assert len(paid) == 1


def test_admin_shutdown_while_resume_records_the_end_is_reported(own_pg_url: str) -> None:
    """`AdminShutdown` once escaped the runner's guard with a traceback.

    `resume` writes the thread index (marking the thread running before it runs the graph). The
    test holds that row locked, so the command waits there, outside the graph, and then
    terminates exactly that backend: the client gets `AdminShutdown` ("terminating connection
    due to administrator command"). Nothing ran, so a second `resume` pays, once.
    """
    thread = f"lost-{uuid.uuid4().hex[:10]}"
    report = run(
        start_run("support", demo_input("approval needed"), thread_id=thread, db_url=own_pg_url)
    )
    assert report.status == "waiting"
    with psycopg.connect(own_pg_url) as locker:
        locker.execute("SELECT 1 FROM waypoint_threads WHERE thread_id = %s FOR UPDATE", (thread,))
        proc = subprocess.Popen(
            [sys.executable, "-m", "waypoint", "resume", thread, "--approve", "--db", own_pg_url],
            cwd=PROJECT_ROOT,
            env={**os.environ, "LANGGRAPH_STRICT_MSGPACK": "true"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            waiting = None
            deadline = time.monotonic() + 90
            while waiting is None and proc.poll() is None and time.monotonic() < deadline:
                found = query(
                    own_pg_url,
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query LIKE ?",
                    ("%waypoint_threads%",),
                )
                waiting = found[0]["pid"] if found else None
                time.sleep(0.05)
            assert waiting is not None, "resume never waited on the thread index row"
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (waiting,))
            locker.rollback()
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 1, out + err
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: lost the database"), err
    assert "AdminShutdown" in lines[0] and f"waypoint resume {thread}" in lines[0]
    status = waypoint_cli("status", thread, "--json", "--db", own_pg_url)
    assert json.loads(status.stdout)["status"] == "waiting", status.stdout + status.stderr
    paid = query(own_pg_url, "SELECT amount FROM support_payments WHERE thread_id = ?", (thread,))
    assert paid == []
    again = waypoint_cli("resume", thread, "--approve", "--db", own_pg_url)
    assert again.returncode == 0, again.stderr
    paid = query(own_pg_url, "SELECT amount FROM support_payments WHERE thread_id = ?", (thread,))
    assert [str(row["amount"]) for row in paid] == ["480.00"]

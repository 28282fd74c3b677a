"""SIGKILL a real `waypoint` process at every node boundary and inside the side effects, then
continue the thread from another process: same end state, each side effect exactly once.
Also: one writer per thread (exit 5 for the second, released when the holder dies).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import PROJECT_ROOT, waypoint_cli
from tests.helpers import start_paused

AUTO_REFUND = {
    "ticket_id": "T-CRASH",
    "customer_id": "C-100",
    "order_id": "O-1",
    "message": "My mug arrived broken. I would like a refund, please.",
}
NEEDS_APPROVAL = {
    "ticket_id": "T-CRASH-2",
    "customer_id": "C-200",
    "order_id": "O-2",
    "message": "The chair is damaged, please refund it.",
}

AUTO_REFUND_POINTS = [
    "before:intake",
    "before:classify",
    "before:classification_gate",
    "before:lookup",
    "before:decide",
    "before:draft",
    "before:review_gate",
    "before:execute",
    "effect:support.payment:before_commit",
    "effect:support.payment:after_commit",
    "effect:support.reply:before_commit",
    "after:execute",
]


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _count(db_url: str, table: str, thread_id: str) -> int:
    sql = f"SELECT count(*) FROM {table} WHERE thread_id = %s"
    if db_url.startswith("sqlite:///"):
        with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
            return int(conn.execute(sql.replace("%s", "?"), (thread_id,)).fetchone()[0])
    with psycopg.connect(db_url) as conn:
        row = conn.execute(sql, (thread_id,)).fetchone()
        assert row is not None
        return int(row[0])


def _checkpoints(db_url: str, thread_id: str) -> int:
    return _count(db_url, "checkpoints", thread_id)


def _status(db_url: str, thread_id: str) -> dict[str, Any]:
    shown = waypoint_cli("status", thread_id, "--db", db_url, "--json")
    assert shown.returncode in (0, 1, 3), shown.stderr
    return dict(json.loads(shown.stdout))


def _resolution(report: dict[str, Any]) -> tuple[str, str]:
    resolution = report["values"]["resolution"]
    return resolution["kind"], resolution["refund_amount"]


@pytest.mark.parametrize("point", AUTO_REFUND_POINTS)
def test_kill_anywhere_then_resume_reaches_the_same_end(
    db_url: str, point: str, tmp_path: Path
) -> None:
    thread = f"crash-{uuid.uuid4().hex[:10]}"
    ticket = {**AUTO_REFUND, "ticket_id": f"T-{uuid.uuid4().hex[:6]}"}
    proc = start_paused(
        ["run", "support", "--input", json.dumps(ticket), "--thread", thread, "--db", db_url],
        point,
        tmp_path,
    )
    _kill(proc)

    before = _status(db_url, thread)
    assert before["status"] == "incomplete", before

    resumed = waypoint_cli("resume", thread, "--db", db_url, "--json")
    assert resumed.returncode == 0, resumed.stderr
    after = json.loads(resumed.stdout)
    assert after["status"] == "completed"
    assert _resolution(after) == ("refunded", "25.00")
    assert _count(db_url, "support_payments", thread) == 1
    assert _count(db_url, "support_outbox", thread) == 1
    assert _count(db_url, "waypoint_side_effects", thread) == 2


def test_kill_inside_payment_after_approval_then_resume(db_url: str, tmp_path: Path) -> None:
    thread = f"crash-{uuid.uuid4().hex[:10]}"
    ticket = {**NEEDS_APPROVAL, "ticket_id": f"T-{uuid.uuid4().hex[:6]}"}
    started = waypoint_cli(
        "run", "support", "--input", json.dumps(ticket), "--thread", thread, "--db", db_url
    )
    assert started.returncode == 3, started.stderr

    point = "effect:support.payment:before_commit"
    proc = start_paused(["resume", thread, "--approve", "--db", db_url], point, tmp_path)
    _kill(proc)
    assert _count(db_url, "support_payments", thread) == 0  # the transaction died with it
    assert _status(db_url, thread)["status"] == "incomplete"

    resumed = waypoint_cli("resume", thread, "--db", db_url, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert _resolution(json.loads(resumed.stdout)) == ("refunded", "480.00")
    assert _count(db_url, "support_payments", thread) == 1
    assert _count(db_url, "support_outbox", thread) == 1


def test_kill_after_the_answer_is_saved_loses_no_refund(db_url: str, tmp_path: Path) -> None:
    """Killed after the approval's writes are saved, before the step's checkpoint.

    The values then already show the answer and `next` is empty, yet nothing was paid: the
    thread is incomplete (not completed), a second answer is refused with nothing written, and
    `resume` pays exactly once.
    """
    thread = f"crash-{uuid.uuid4().hex[:10]}"
    ticket = {**NEEDS_APPROVAL, "ticket_id": f"T-{uuid.uuid4().hex[:6]}"}
    started = waypoint_cli(
        "run", "support", "--input", json.dumps(ticket), "--thread", thread, "--db", db_url
    )
    assert started.returncode == 3, started.stderr

    proc = start_paused(
        ["resume", thread, "--approve", "--db", db_url], "writes:approval", tmp_path
    )
    _kill(proc)
    status = _status(db_url, thread)
    assert (status["status"], status["exit_code"]) == ("incomplete", 1), status
    checkpoints = _checkpoints(db_url, thread)

    again = waypoint_cli("resume", thread, "--approve", "--db", db_url)
    assert again.returncode == 2, again.stderr
    assert f"waypoint resume {thread}" in again.stderr
    assert _checkpoints(db_url, thread) == checkpoints
    assert _count(db_url, "support_payments", thread) == 0

    resumed = waypoint_cli("resume", thread, "--db", db_url, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert _resolution(json.loads(resumed.stdout)) == ("refunded", "480.00")
    assert _count(db_url, "support_payments", thread) == 1
    assert _count(db_url, "support_outbox", thread) == 1


def test_second_writer_gets_exit_5_and_writes_nothing(db_url: str, tmp_path: Path) -> None:
    thread = f"busy-{uuid.uuid4().hex[:10]}"
    ticket = {**AUTO_REFUND, "ticket_id": f"T-{uuid.uuid4().hex[:6]}"}
    holder = start_paused(
        ["run", "support", "--input", json.dumps(ticket), "--thread", thread, "--db", db_url],
        "before:lookup",
        tmp_path,
    )
    checkpoints = _checkpoints(db_url, thread)

    second = waypoint_cli("resume", thread, "--db", db_url)
    assert second.returncode == 5, second.stderr
    assert "busy" in second.stderr and f":{holder.pid}" in second.stderr
    again = waypoint_cli(
        "run", "support", "--input", json.dumps(ticket), "--thread", thread, "--db", db_url
    )
    assert again.returncode == 5, again.stderr
    assert _checkpoints(db_url, thread) == checkpoints

    _kill(holder)  # the lock dies with its holder
    resumed = waypoint_cli("resume", thread, "--db", db_url, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert _count(db_url, "support_payments", thread) == 1


def test_concurrent_resumes_leave_one_linear_history(db_url: str) -> None:
    thread = f"race-{uuid.uuid4().hex[:10]}"
    ticket = {**NEEDS_APPROVAL, "ticket_id": f"T-{uuid.uuid4().hex[:6]}"}
    started = waypoint_cli(
        "run", "support", "--input", json.dumps(ticket), "--thread", thread, "--db", db_url
    )
    assert started.returncode == 3, started.stderr
    env = {**os.environ, "LANGGRAPH_STRICT_MSGPACK": "true"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "waypoint", "resume", thread, "--approve", "--db", db_url],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    codes = sorted(p.wait(timeout=120) for p in procs)
    # one approves; the others are busy (5) or find nothing left to answer (2)
    assert codes.count(0) == 1, codes
    assert all(code in (2, 5) for code in codes if code != 0), codes
    assert _count(db_url, "support_payments", thread) == 1
    parents = _parent_links(db_url, thread)
    assert len(parents) == len(set(parents)), "two checkpoints share a parent: history forked"


def _parent_links(db_url: str, thread_id: str) -> list[str]:
    sql = (
        "SELECT parent_checkpoint_id FROM checkpoints WHERE thread_id = %s "
        "AND checkpoint_ns = '' AND parent_checkpoint_id IS NOT NULL"
    )
    if db_url.startswith("sqlite:///"):
        with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
            rows = conn.execute(sql.replace("%s", "?"), (thread_id,)).fetchall()
    else:
        with psycopg.connect(db_url) as conn:
            rows = conn.execute(sql, (thread_id,)).fetchall()
    return [str(row[0]) for row in rows]

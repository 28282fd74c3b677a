"""A kill during the fan-out halts every task; a resume after SIGKILL redoes no finished task.

Real processes on both backends. The `gated-search` test provider (tests/research/faults.py)
holds the searches it is told to until a file appears, and logs every call to a file, so calls
made by a process that was killed are counted too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT, waypoint_cli
from tests.helpers import is_sqlite, query
from tests.research.faults import calls

QUESTION = json.dumps({"question": "How do json.dumps and pickle.dumps differ?"})
NO_MEMORY = json.dumps({"use_memory": False})


def _wait(what: str, ready: Callable[[], bool], proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not ready():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the run ended before {what}: {out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"never saw {what}")
        time.sleep(0.05)


def _start(db_url: str, thread: str, tmp_path: Path, gate_word: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "LANGGRAPH_STRICT_MSGPACK": "true",
        "WAYPOINT_ROUTE_SEARCH_DOCS": "gated-search",
        "RESEARCH_GATE": str(tmp_path / "gate"),
        "RESEARCH_GATE_WORD": gate_word,
        "RESEARCH_CALL_LOG": str(tmp_path / "calls.log"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "waypoint", "run", "research", "--input", QUESTION,
         "--context", NO_MEMORY, "--thread", thread, "--db", db_url],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip


def test_a_kill_during_the_fan_out_halts_every_task(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    thread = f"research-kill-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "calls.log"
    proc = _start(db_url, thread, tmp_path, gate_word="")  # every search waits
    _wait("three searches in flight", lambda: len(calls(log)) == 3, proc)
    killed = waypoint_cli("kill", thread, "--reason", "wrong question", "--db", db_url)
    assert killed.returncode == 0, killed.stderr
    # the searches stay blocked until the run's watcher (a read every 0.2 s) has landed the
    # kill, then the gate lets their threads go
    time.sleep(1.0)
    (tmp_path / "gate").touch()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, out + err
    status = json.loads(waypoint_cli("status", thread, "--db", db_url, "--json").stdout)
    assert status["status"] == "halted"
    assert status["values"]["halt"]["kind"] == "kill"
    assert "wrong question" in status["values"]["halt"]["reason"]
    assert "brief" not in status["values"] or status["values"]["brief"] is None
    rows = query(
        db_url,
        "SELECT node, status, error_class, error_message FROM waypoint_ledger WHERE thread_id = ?",
        (thread,),
    )
    done = [r["node"] for r in rows if r["status"] == "committed" and not r["error_class"]]
    assert done.count("agent") == 3  # each task's first turn, before the kill
    # the three searches in flight were stopped by the kill where they stood (each task's tool
    # call refused at its capability call), and nothing after them ran
    stopped = [r for r in rows if r["node"] == "tools"]
    assert len(stopped) == 3
    assert all(r["error_class"] == "GuardHalt" for r in stopped), stopped
    assert all(r["error_message"] == "kill: wrong question" for r in stopped), stopped
    # the kill also cancels the run itself when it lands. If the refused tool calls end the
    # three research tasks first, `synthesise` is halted before its body; if the cancel reaches
    # the tasks first, the runner records the halt by running their step again, where they are
    # halted before their body (rows `halted` for `research`). Either may come first; nothing
    # past the kill runs.
    halted = [r["node"] for r in rows if r["status"] == "halted"]
    assert halted and set(halted) <= {"research", "synthesise"}, halted
    assert "write_findings" not in done and "synthesise" not in done
    assert len(calls(log)) == 3  # no search ran again


def _task_writes(db_url: str, thread: str) -> int:
    table = "writes" if is_sqlite(db_url) else "checkpoint_writes"
    rows = query(
        db_url,
        f"SELECT count(*) AS n FROM {table} "
        "WHERE thread_id = ? AND checkpoint_ns = '' AND channel = 'findings'",
        (thread,),
    )
    return int(rows[0]["n"]) if rows else 0


def test_resume_after_sigkill_redoes_no_finished_task(db_url: str, tmp_path: Path) -> None:
    thread = f"research-crash-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "calls.log"
    proc = _start(db_url, thread, tmp_path, gate_word="pickle")  # q2 and q3 wait
    _wait("q1's task finished", lambda: _task_writes(db_url, thread) == 1, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    before = calls(log)
    assert [q for _, q in before].count("What does json.dumps do?") == 1

    (tmp_path / "gate").touch()
    resumed = waypoint_cli(
        "resume", thread, "--db", db_url, "--json",
        env={
            "WAYPOINT_ROUTE_SEARCH_DOCS": "gated-search",
            "RESEARCH_GATE": str(tmp_path / "gate"),
            "RESEARCH_CALL_LOG": str(log),
        },
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    values = json.loads(resumed.stdout)["values"]
    assert {f["status"] for f in values["findings"]} == {"answered"}
    queries = [q for _, q in calls(log)]
    assert queries.count("What does json.dumps do?") == 1  # the finished task was not redone
    assert queries.count("What does pickle.dumps do?") == 2  # cut off, then done on resume
    assert queries.count("How do json.dumps and pickle.dumps differ?") == 2

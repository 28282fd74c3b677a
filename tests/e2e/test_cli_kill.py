"""`waypoint kill` from a second process halts a run before its next node, through the database."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

from tests.conftest import waypoint_cli
from tests.helpers import count, demo_input, start_paused


def _paused_run(db_url: str, thread: str, point: str, tmp_path: Path) -> subprocess.Popen[str]:
    ticket = demo_input("auto refund", ticket_id=f"T-{uuid.uuid4().hex[:6]}")
    args = ["run", "support", "--input", json.dumps(ticket), "--thread", thread, "--db", db_url]
    return start_paused(args, point, tmp_path, releasable=True)


def test_kill_from_another_process_halts_before_the_next_node(db_url: str, tmp_path: Path) -> None:
    thread = f"kill-{uuid.uuid4().hex[:8]}"
    proc = _paused_run(db_url, thread, "after:classify", tmp_path)  # classify is running

    killed = waypoint_cli("kill", thread, "--reason", "runaway spend", "--db", db_url)
    assert killed.returncode == 0, killed.stderr
    (tmp_path / "release").write_text("go")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 4, err

    shown = json.loads(waypoint_cli("status", thread, "--db", db_url, "--json").stdout)
    assert shown["status"] == "halted"
    halt = shown["values"]["halt"]
    assert halt["kind"] == "kill" and halt["node"] == "classification_gate"
    assert halt["reason"] == "runaway spend" and halt["by"]
    assert shown["values"].get("classification_verdict") is None  # the next node never ran

    refused = waypoint_cli("resume", thread, "--db", db_url)
    assert refused.returncode == 4 and "--override" in refused.stderr
    missing_reason = waypoint_cli("resume", thread, "--override", "--db", db_url)
    assert missing_reason.returncode == 2 and "reason" in missing_reason.stderr

    resumed = waypoint_cli(
        "resume", thread, "--override", "--reason", "checked: spend is fine", "--db", db_url
    )
    assert resumed.returncode == 0, resumed.stderr
    assert count(db_url, "support_payments", thread) == 1
    audit = json.loads(waypoint_cli("audit", thread, "--db", db_url, "--json").stdout)
    assert [k["reason"] for k in audit["kills"]] == ["runaway spend"]
    assert [o["reason"] for o in audit["overrides"]] == ["checked: spend is fine"]
    halted_rows = [r for r in audit["invocations"] if r["status"] == "halted"]
    assert [r["node"] for r in halted_rows] == ["classification_gate"]


def test_a_graph_kill_reaches_running_and_waiting_threads(sqlite_url: str, tmp_path: Path) -> None:
    thread = f"kill-{uuid.uuid4().hex[:8]}"
    waiting = waypoint_cli(
        "run", "support", "--input", json.dumps(demo_input("approval needed")), "--db", sqlite_url,
        "--json",
    )  # fmt: skip
    assert waiting.returncode == 3, waiting.stderr
    waiting_thread = json.loads(waiting.stdout)["thread_id"]
    proc = _paused_run(sqlite_url, thread, "after:lookup", tmp_path)
    killed = waypoint_cli(
        "kill", "--graph", "support", "--reason", "incident", "--db", sqlite_url, "--json"
    )
    assert killed.returncode == 0, killed.stderr
    reach = json.loads(killed.stdout)
    assert reach["threads"] == {"running": [thread], "waiting": [waiting_thread]}
    assert reach["reached"] == {"running": 1, "waiting": 1, "incomplete": 0}
    (tmp_path / "release").write_text("go")
    proc.communicate(timeout=120)
    assert proc.returncode == 4

    approved = waypoint_cli("resume", waiting_thread, "--approve", "--db", sqlite_url)
    assert approved.returncode == 4, approved.stderr  # halted before approval: nothing paid
    assert count(sqlite_url, "support_payments", waiting_thread) == 0
    assert count(sqlite_url, "support_payments", thread) == 0
    refused = waypoint_cli(
        "run", "support", "--input", json.dumps(demo_input("auto refund")), "--db", sqlite_url
    )
    assert refused.returncode == 4 and "kill: graph support is killed" in refused.stderr

    kpis = json.loads(waypoint_cli("kpis", "--db", sqlite_url, "--json").stdout)
    assert kpis["halt_rate"] == 1.0
    bad = waypoint_cli("kill", thread, "--db", sqlite_url)
    assert bad.returncode == 2 and "reason" in bad.stderr
    lifted = waypoint_cli("unkill", "--graph", "support", "--reason", "over", "--db", sqlite_url)
    assert lifted.returncode == 0, lifted.stderr

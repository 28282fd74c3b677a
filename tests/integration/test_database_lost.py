"""Postgres drops every connection mid-run: a clear failure naming the thread, then `resume`."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg

from tests.conftest import ADMIN_URL, waypoint_cli
from tests.helpers import start_paused


def test_connections_dropped_mid_run_fail_clearly_and_resume(pg_url: str, tmp_path: Path) -> None:
    thread = f"lost-{uuid.uuid4().hex[:10]}"
    ticket = {
        "ticket_id": f"T-{uuid.uuid4().hex[:6]}",
        "customer_id": "C-100",
        "order_id": "O-1",
        "message": "My mug arrived broken. I would like a refund, please.",
    }
    args = ["run", "support", "--input", json.dumps(ticket), "--thread", thread, "--db", pg_url]
    proc = start_paused(args, "before:decide", tmp_path, releasable=True)
    release = tmp_path / "release"

    database = pg_url.rpartition("/")[2]
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        dropped = admin.execute(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()) AS t",
            (database,),
        ).fetchone()
    assert dropped is not None and dropped[0] >= 1
    release.write_text("go")
    _, err = proc.communicate(timeout=120)

    assert proc.returncode == 1, err
    assert thread in err and f"waypoint resume {thread}" in err
    assert "Traceback" not in err

    # LangGraph may have finished the run on fresh pool connections (only a background write
    # failed) or stopped at the lost write; either way `resume` brings it to the same end.
    resumed = waypoint_cli("resume", thread, "--db", pg_url, "--json")
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["values"].get("resolution", {}).get("kind") == "refunded", json.dumps(report)[
        :3000
    ]
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM support_payments WHERE thread_id = %s", (thread,)
        ).fetchone()
    assert row is not None and row[0] == 1

"""`WAYPOINT_RECORD_DIR` on a real `langgraph dev` server: each thread becomes a trace file."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest
from langgraph_sdk.schema import Command

from tests.e2e.servers import Users, start_langgraph_dev
from waypoint.errors import BadInput
from waypoint.evals.trace_format import read_trace
from waypoint.evals.trace_view import build_view

pytestmark = pytest.mark.timeout(180)

TICKET = {
    "ticket_id": "T-1",
    "customer_id": "C-200",
    "order_id": "O-2",
    "message": "The chair is damaged, please refund it.",
}


def test_the_server_records_each_thread(tmp_path: Path) -> None:
    users, traces = Users(), tmp_path / "traces"
    server = start_langgraph_dev(
        env={
            "WAYPOINT_API_KEYS": users.api_keys,
            "WAYPOINT_DB_URL": f"sqlite:///{tmp_path / 'waypoint.sqlite'}",
            "WAYPOINT_RECORD_DIR": str(traces),
        },
        log_dir=tmp_path,
    )
    try:
        client = server.client(users.alice)
        thread = client.threads.create()["thread_id"]
        client.runs.wait(thread, "support", input=TICKET)
        resume: Command = {"resume": {"decisions": [{"type": "approve"}]}}
        client.runs.wait(thread, "support", command=resume)
        path = traces / f"{thread}.jsonl"
        view = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the writer thread appends after each invocation
            with contextlib.suppress(BadInput):  # missing, or caught mid-append
                view = build_view(read_trace(path))
                if view.status == "completed":
                    break
            time.sleep(0.2)
        log = server.log_tail()
    finally:
        server.stop()
    assert view is not None, log
    assert view.header.thread_id == thread
    assert view.status == "completed", log
    assert view.path[-2:] == ["approval", "execute"]
    assert [i["node"] for i in view.interrupts] == ["approval"]
    assert "grace@example.com" not in path.read_text()
    assert "Error in EnvTraceRecorder" not in (tmp_path / "langgraph-dev.log").read_text()

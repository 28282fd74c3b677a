"""Kills through `langgraph dev`: `waypoint kill` counts the server's threads by state, a node
inside a 10 s capability call is halted at the call, and an answer after the kill runs nothing.

The server serves the kit's graphs (`tests/kit/langgraph.json`) with the kit fitted
(`waypoint.serving`); its thread index and ledger are in the SQLite file of `WAYPOINT_DB_URL`,
which the `waypoint kill` command reads and writes from another process.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import waypoint_cli
from tests.e2e.servers import Server, start_langgraph_dev
from tests.helpers import query
from tests.kit.conftest import KIT, KIT_GRAPHS

pytestmark = pytest.mark.timeout(240)

KIT_ENV = {
    "WAYPOINT_LANGGRAPH_JSON": str(KIT_GRAPHS),
    "WAYPOINT_CONFIG": str(KIT / "waypoint.toml"),
}
HALT_BOUND_SECONDS = 3.0


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('dev-kill-db') / 'waypoint.sqlite'}"


@pytest.fixture(scope="module")
def server(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    logs: Path = tmp_path_factory.mktemp("dev-kill-logs")
    dev = start_langgraph_dev(
        env={"WAYPOINT_DB_URL": db_url, **KIT_ENV}, log_dir=logs, config=KIT_GRAPHS
    )
    yield dev
    dev.stop()


def _landed(db_url: str, thread_id: str) -> float:
    """Seconds from the kill's commit to the end of the node it stopped (ledger timestamps)."""
    [kill] = query(
        db_url, "SELECT requested_at FROM waypoint_kills WHERE thread_id = ?", (thread_id,)
    )
    [row] = query(
        db_url,
        "SELECT ended_at FROM waypoint_ledger WHERE thread_id = ? AND error_class = 'GuardHalt'",
        (thread_id,),
    )
    ended = datetime.fromisoformat(str(row["ended_at"]))
    return (ended - datetime.fromisoformat(str(kill["requested_at"]))).total_seconds()


def _cli(*args: str) -> Any:
    return waypoint_cli(*args, env=KIT_ENV)


def test_a_kill_through_the_server_counts_and_halts(server: Server, db_url: str) -> None:
    client = server.client(None)
    waiting = client.threads.create()["thread_id"]
    asked = client.runs.wait(waiting, "two_questions", input={"topic": "refunds"})
    assert isinstance(asked, dict) and asked.get("__interrupt__"), asked
    running = client.threads.create()["thread_id"]
    run = client.runs.create(running, "napper", input={"mode": "async", "seconds": 10})
    deadline = time.monotonic() + 60
    while not query(
        db_url, "SELECT 1 FROM waypoint_ledger WHERE thread_id = ? AND node = 'nap'", (running,)
    ):
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.05)
    time.sleep(0.3)  # inside the 10 s call

    reason = f"incident {uuid.uuid4().hex[:6]}"
    killed = _cli("kill", "--all", "--reason", reason, "--db", db_url, "--json")
    try:
        assert killed.returncode == 0, killed.stderr
        reach = json.loads(killed.stdout)
        assert running in reach["threads"]["running"] and waiting in reach["threads"]["waiting"]
        assert reach["reached"]["running"] == len(reach["threads"]["running"])
        assert reach["reached"]["waiting"] == len(reach["threads"]["waiting"])
        started = time.monotonic()
        client.runs.join(running, run["run_id"])
        took = time.monotonic() - started
        print(f"kill -> end of the server's run inside a 10 s call: {took:.3f} s")
        landed = _landed(db_url, running)
        print(f"kill committed -> node stopped (ledger): {landed:.3f} s")
        assert landed < HALT_BOUND_SECONDS
        assert took < HALT_BOUND_SECONDS, server.log_tail()
        values: Any = client.threads.get_state(running)["values"]
        assert values["halt"]["kind"] == "kill" and values["halt"]["reason"] == reason
        assert values["halt"]["node"] == "nap" and values.get("log", []) == []

        state: Any = client.threads.get_state(waiting)
        answers = {
            i["id"]: {"decisions": [{"type": "approve"}]} for i in state.get("interrupts", [])
        }
        assert len(answers) == 2, state
        client.runs.wait(waiting, "two_questions", command={"resume": answers})
        after: Any = client.threads.get_state(waiting)["values"]
        assert after["halt"]["kind"] == "kill" and after.get("summary") is None
        shown = query(db_url, "SELECT status FROM waypoint_threads WHERE thread_id = ?", (running,))
        assert shown == [{"status": "halted"}]
    finally:
        assert _cli("unkill", "--all", "--reason", "test over", "--db", db_url).returncode == 0

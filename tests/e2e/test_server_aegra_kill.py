"""Kills through Aegra on Postgres: `waypoint kill --graph support` counts the server's threads
by state, a node inside a 10 s capability call is halted at the call, and the approval of a
waiting thread after the kill pays nothing.

One Aegra instance on a database of its own, with `crm_lookup` routed to `kit-slow-crm`
(`tests/kit/slow_lookup.py`: 10 s late while a marker file exists). The kill comes from
another process, the `waypoint` command, through the database the server shares.
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
from tests.e2e import server_flows as flows
from tests.e2e.servers import AegraCluster, Users, aegra_cluster
from tests.helpers import count, demo_input, query, reset_demo_crm
from tests.kit.slow_lookup import MARKER, NAME

pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group(name="aegra")]

HALT_BOUND_SECONDS = 3.0
FINISHED = {"success", "error", "interrupted", "timeout"}


@pytest.fixture(scope="module")
def users() -> Users:
    return Users()


@pytest.fixture(scope="module")
def marker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("aegra-kill-marker") / "slow"


@pytest.fixture(scope="module")
def cluster(
    users: Users, marker: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AegraCluster]:
    extra = {
        "WAYPOINT_PLUGINS": "tests.kit.slow_lookup",
        "WAYPOINT_ROUTE_CRM_LOOKUP": NAME,
        MARKER: str(marker),
    }
    logs = tmp_path_factory.mktemp("aegra-kill")
    with aegra_cluster("waypoint_aegra_kill", logs, users=users, extra=extra) as cluster:
        yield cluster


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


def _finished(client: Any, thread_id: str, run_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.runs.get(thread_id, run_id)
        if run["status"] in FINISHED:
            return dict(run)
        time.sleep(0.05)
    raise TimeoutError(f"run {run_id} did not finish in {timeout}s")


def test_a_graph_kill_through_aegra_counts_and_halts(
    cluster: AegraCluster, users: Users, marker: Path
) -> None:
    [server], aegra_db = cluster.servers, cluster.db_url
    reset_demo_crm(aegra_db)
    client = server.client(users.alice)
    waiting, _ = flows.run_to_approval(client)  # lookup answers at once: no marker yet
    marker.touch()
    reason = f"incident {uuid.uuid4().hex[:6]}"
    try:
        running = client.threads.create()["thread_id"]
        ticket = demo_input("auto refund", ticket_id=f"T-{uuid.uuid4().hex[:6]}")
        run = client.runs.create(running, "support", input=ticket)
        deadline = time.monotonic() + 60
        while not query(
            aegra_db,
            "SELECT 1 FROM waypoint_ledger WHERE thread_id = ? AND node = 'lookup'",
            (running,),
        ):
            assert time.monotonic() < deadline, server.log_tail()
            time.sleep(0.05)
        time.sleep(0.3)  # inside the 10 s call

        killed = waypoint_cli(
            "kill", "--graph", "support", "--reason", reason, "--db", aegra_db, "--json"
        )
        assert killed.returncode == 0, killed.stderr
        reach = json.loads(killed.stdout)
        assert reach["threads"]["running"] == [running], reach
        assert reach["threads"]["waiting"] == [waiting], reach
        assert reach["reached"] == {"running": 1, "waiting": 1, "incomplete": 0}
        started = time.monotonic()
        finished = _finished(client, running, run["run_id"])
        took = time.monotonic() - started
        print(f"kill -> end of Aegra's run inside a 10 s call: {took:.3f} s")
        landed = _landed(aegra_db, running)
        print(f"kill committed -> node stopped (ledger): {landed:.3f} s")
        assert landed < HALT_BOUND_SECONDS
        assert finished["status"] == "success", finished
        assert took < HALT_BOUND_SECONDS, server.log_tail()
        values: Any = client.threads.get_state(running)["values"]
        assert values["halt"]["kind"] == "kill" and values["halt"]["reason"] == reason
        assert values["halt"]["node"] == "lookup" and values.get("lookup") is None

        flows.stream_run(client, waiting, command=flows.resume_with("approve"))
        after: Any = client.threads.get_state(waiting)["values"]
        assert after["halt"]["kind"] == "kill"
        assert count(aegra_db, "support_payments", waiting) == 0
        assert count(aegra_db, "support_payments", running) == 0
        statuses = query(
            aegra_db,
            "SELECT thread_id, status FROM waypoint_threads WHERE thread_id IN (?, ?)",
            (running, waiting),
        )
        assert {r["thread_id"]: r["status"] for r in statuses} == {
            running: "halted", waiting: "halted",
        }  # fmt: skip
    finally:
        marker.unlink(missing_ok=True)
        lifted = waypoint_cli(
            "unkill", "--graph", "support", "--reason", "test over", "--db", aegra_db
        )
        assert lifted.returncode == 0, lifted.stderr

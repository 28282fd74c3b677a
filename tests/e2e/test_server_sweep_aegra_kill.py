"""A sweeping Aegra instance SIGKILLed while it holds a claim: the other applies the default, once.

Instance A freezes right after its sweep worker claimed a passed deadline
(`WAYPOINT_PAUSE_AT=sweep:claimed`, `waypoint.faults`) and is killed with SIGKILL there. Its
claim stays in the database until its lease ends (3 s here); instance B, started once A
holds the claim, leaves the question alone until then, then claims it and applies the
default through its own API. The default is applied exactly once, by B, and nothing is lost.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.server_sweeps import aegra_sweep_cluster, ask_deadline, decisions_of
from tests.e2e.servers import AegraCluster, Users, wait_for_file
from tests.helpers import query

pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group(name="aegra")]

LEASE_SECONDS = "3"


@pytest.fixture(scope="module")
def users() -> Users:
    return Users()


@pytest.fixture(scope="module")
def cluster(users: Users, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AegraCluster]:
    """No instance yet: the test starts A (which freezes once it claimed) and B itself."""
    logs = tmp_path_factory.mktemp("sweep-kill")
    lease = {"WAYPOINT_SWEEP_LEASE_SECONDS": LEASE_SECONDS}
    with aegra_sweep_cluster(
        "waypoint_sweep_kill", logs, users, instances=0, extra=lease
    ) as cluster:
        yield cluster


def test_a_killed_sweeper_leaves_the_default_to_the_other_instance_once(
    cluster: AegraCluster, users: Users
) -> None:
    db_url = cluster.db_url
    marker = cluster.logs / "paused"
    a = cluster.start(
        "aegra-a", {"WAYPOINT_PAUSE_AT": "sweep:claimed", "WAYPOINT_PAUSE_MARKER": str(marker)}
    )
    thread = ask_deadline(a, users, on_timeout="approve", seconds=1)
    assert wait_for_file(marker, timeout=60).startswith("sweep:claimed")  # A claimed, froze
    [claimed] = query(
        db_url, "SELECT claimed_by, answered_at FROM waypoint_handoffs WHERE thread_id = ?",
        (thread,),
    )  # fmt: skip
    assert f":{a.pid}/server/" in str(claimed["claimed_by"]) and claimed["answered_at"] is None
    b = cluster.start("aegra-b")
    a.kill9()  # dies holding the claim (and the sweep lock: its session ends with it)

    alice = b.client(users.alice)

    def values() -> dict[str, Any]:
        found: Any = alice.threads.get_state(thread)["values"]
        assert isinstance(found, dict), found
        return found

    deadline = time.monotonic() + 90
    while values().get("outcome") is None:
        assert time.monotonic() < deadline, b.log_tail()
        time.sleep(0.2)
    time.sleep(2.5)  # more passes of B's sweeper: nothing is applied again
    assert (values()["outcome"], values()["acted"]) == ("approve", True)
    [decision] = decisions_of(db_url, thread)
    assert (decision["answered_by"], decision["answered_as"]) == ("sweeper", "deadline")
    [handoff] = query(
        db_url, "SELECT answered_by, claimed_by FROM waypoint_handoffs WHERE thread_id = ?",
        (thread,),
    )  # fmt: skip
    assert handoff["answered_by"] == "sweeper"
    assert f":{b.pid}/server/" in str(handoff["claimed_by"])  # B took it over
    assert len(alice.runs.list(thread)) == 2
    assert b.alive(), b.log_tail()

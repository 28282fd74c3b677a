"""Aegra (a self-hosted LangGraph-protocol server) on Postgres + Redis: two instances, via the SDK.

The module builds `.venv-aegra` (Python 3.12, from serve/aegra.lock) with scripts/aegra-env.sh,
creates its own database, runs `scripts/aegra-serve.sh setup` (Aegra's migrations and Waypoint's
checkpoint fence) and starts two instances with `scripts/aegra-serve.sh run`, sharing Postgres and
Redis (under key prefixes of their own). Leases are short so a killed worker's run is re-queued
within seconds. Under CI=true a missing Python 3.12, Redis or Postgres fails the module.

Both instances pause at `effect:support.payment:after_commit` (waypoint.faults) only while the
release file is absent; the tests remove it to freeze the instance that is paying.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk.client import SyncLangGraphClient

from tests.e2e import server_flows as flows
from tests.e2e.servers import (
    AegraCluster,
    Server,
    Users,
    aegra_cluster,
    branches,
    checkpoint_tree,
    wait_for_file,
)
from tests.helpers import count, query, reset_demo_crm, rows

pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group(name="aegra")]

PAUSE_POINT = "effect:support.payment:after_commit"
APPROVE = flows.resume_with("approve")
FINISHED = {"success", "error", "interrupted", "timeout"}


@dataclass
class Cluster:
    """Two Aegra instances on one Postgres database and one Redis."""

    a: Server
    b: Server
    marker: Path
    release: Path
    aegra: AegraCluster

    @property
    def db_url(self) -> str:
        """The database the instances share (Aegra's and Waypoint's tables)."""
        return self.aegra.db_url

    def replace(self, dead: Server) -> None:
        """Start a new instance in place of one that was killed."""
        fresh = self.aegra.start(f"{dead.name}-again")
        if self.a is dead:
            self.a = fresh
        else:
            self.b = fresh

    def by_pid(self, pid: int) -> tuple[Server, Server]:
        """(the instance with this pid, the other one)."""
        if self.a.pid == pid:
            return self.a, self.b
        assert self.b.pid == pid, (pid, self.a.pid, self.b.pid)
        return self.b, self.a


@pytest.fixture(scope="module")
def users() -> Users:
    return Users()


@pytest.fixture(scope="module")
def cluster(users: Users, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    logs = tmp_path_factory.mktemp("aegra")
    marker, release = logs / "paused", logs / "release"
    release.touch()
    extra = {
        # short leases: a dead worker's run is re-queued within ~4 s
        "LEASE_DURATION_SECONDS": "3",
        "HEARTBEAT_INTERVAL_SECONDS": "1",
        "REAPER_INTERVAL_SECONDS": "1",
        "BLPOP_TIMEOUT_SECONDS": "1",
        "BLOCKING_SOCKET_TIMEOUT_SECONDS": "6",
        "N_JOBS_PER_WORKER": "4",
        "WAYPOINT_PAUSE_AT": PAUSE_POINT,
        "WAYPOINT_PAUSE_MARKER": str(marker),
        "WAYPOINT_PAUSE_RELEASE": str(release),
        "WAYPOINT_RESEARCH_CORPUS_DIR": str(logs / "corpus"),
    }
    with aegra_cluster("waypoint_aegra", logs, users=users, extra=extra, instances=2) as aegra:
        a, b = aegra.servers
        try:
            yield Cluster(a=a, b=b, marker=marker, release=release, aegra=aegra)
        finally:
            release.touch()  # a paused instance goes on, and stops


@pytest.fixture
def server(cluster: Cluster) -> Server:
    return cluster.a


def wait_run(
    client: SyncLangGraphClient, thread_id: str, run_id: str, timeout: float = 60
) -> dict[str, Any]:
    """Poll a run until it finishes (runs.wait / join poll every 2 s in Redis mode)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.runs.get(thread_id, run_id)
        if run["status"] in FINISHED:
            return dict(run)
        time.sleep(0.2)
    raise TimeoutError(f"run {run_id} did not finish in {timeout}s")


# --- the SDK flow, as on `langgraph dev` ------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_crm(cluster: Cluster) -> None:
    """Each test refunds the demo orders afresh (a refund moves the CRM's order)."""
    reset_demo_crm(cluster.db_url)


def test_lists_assistants(server: Server, users: Users) -> None:
    flows.lists_assistants(server, users)


def test_runs_to_the_approval_interrupt(server: Server, users: Users, cluster: Cluster) -> None:
    flows.runs_to_the_approval_interrupt(server, users, cluster.db_url)


@pytest.mark.parametrize("decision", list(flows.DECISIONS))
def test_resumes_with_each_decision(
    decision: str, server: Server, users: Users, cluster: Cluster
) -> None:
    flows.resumes_with(decision, server, users, cluster.db_url)


def test_reads_history_and_forks(server: Server, users: Users, cluster: Cluster) -> None:
    flows.reads_history_and_forks(server, users, cluster.db_url)


def test_streams_a_run(server: Server, users: Users) -> None:
    flows.streams_a_run(server, users)


def test_second_user_cannot_touch_the_thread(cluster: Cluster, users: Users) -> None:
    flows.second_user_cannot_touch_the_thread(cluster.a, users, cluster.db_url)
    flows.second_user_cannot_touch_the_thread(cluster.b, users, cluster.db_url)


def test_caller_is_never_above_the_policy(server: Server, users: Users, cluster: Cluster) -> None:
    flows.caller_is_never_above_the_policy(server, users, cluster.db_url)


def test_research_memory_lives_in_the_servers_store_per_caller(
    cluster: Cluster, users: Users
) -> None:
    """Aegra gives runs its `AsyncPostgresStore` on its database (here also Waypoint's): each
    finding is a row under its caller's namespace, with the Store's own TTL, the same namespace
    the caller reads through the Store API (the flow reads it)."""
    threads = flows.research_memory_is_per_user(cluster.a, users)
    kept = query(
        cluster.db_url,
        "SELECT prefix, value->>'thread_id' AS thread_id, ttl_minutes, "
        "expires_at > now() + interval '6 days' AS lives_a_week FROM store "
        "WHERE prefix LIKE ?",
        ("%.research.findings",),
    )
    by_thread: dict[str, set[str]] = {}
    for row in kept:
        by_thread.setdefault(row["thread_id"], set()).add(row["prefix"])
        assert row["ttl_minutes"] == 7 * 24 * 60 and row["lives_a_week"], row
    alices = f"users.{users.alice.name}.research.findings"
    bobs = f"users.{users.bob.name}.research.findings"
    assert by_thread[threads["first"]] == {alices}
    assert by_thread[threads["later"]] == {alices}  # q2, q3 (q1 was reused, not kept again)
    assert by_thread[threads["other"]] == {bobs}
    # the short-lived finding was kept with its own TTL, then replaced by the later thread's
    assert threads["expired"] not in by_thread


def test_no_credentials_is_401(cluster: Cluster, users: Users) -> None:
    flows.no_credentials_is_401(cluster.a, users)
    flows.no_credentials_is_401(cluster.b, users)


# --- two instances on Postgres + Redis --------------------------------------------------------


def test_run_created_on_one_is_joined_on_the_other(cluster: Cluster, users: Users) -> None:
    on_a, on_b = cluster.a.client(users.alice), cluster.b.client(users.alice)
    thread_id = on_a.threads.create()["thread_id"]
    run = on_a.runs.create(thread_id, "support", input=flows.TICKET)
    streamed = [part.event for part in on_b.runs.join_stream(thread_id, run["run_id"])]
    assert "error" not in streamed, streamed
    assert on_b.runs.get(thread_id, run["run_id"])["status"] == "interrupted"
    state = on_b.threads.get_state(thread_id)
    assert flows.hitl_request(state)["action_requests"][0]["name"] == "issue_refund"
    # and the answer, given on B, is picked up by whichever instance is free
    resumed = on_b.runs.create(thread_id, "support", command=APPROVE)
    assert wait_run(on_a, thread_id, resumed["run_id"])["status"] == "success"
    assert count(cluster.db_url, "support_payments", thread_id) == 1


def test_two_runs_at_once_on_one_thread_leave_one_linear_history(
    cluster: Cluster, users: Users
) -> None:
    """Aegra ignores multitask_strategy; the checkpoint fence keeps each history linear."""
    on_a, on_b = cluster.a.client(users.alice), cluster.b.client(users.alice)
    outcomes: list[str] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for _ in range(3):
            thread_id = on_a.threads.create()["thread_id"]
            created = list(
                pool.map(
                    lambda c, t=thread_id: c.runs.create(t, "support", input=flows.TICKET),
                    (on_a, on_b),
                )
            )
            finished = [
                wait_run(c, thread_id, r["run_id"])
                for c, r in zip((on_a, on_b), created, strict=True)
            ]
            statuses = sorted(run["status"] for run in finished)
            outcomes.append("+".join(statuses))
            assert "interrupted" in statuses, statuses  # at least one reached the approval
            assert set(statuses) <= {"interrupted", "error"}, statuses
            assert branches(cluster.db_url, thread_id) == {}, checkpoint_tree(
                cluster.db_url, thread_id
            )
            state = on_a.threads.get_state(thread_id)
            assert state["next"] == ["approval"]


def test_a_frozen_worker_woken_after_its_run_was_finished_elsewhere_writes_nothing(
    cluster: Cluster, users: Users
) -> None:
    """SIGSTOP the paying worker past its lease: the run is re-queued and finished on the other
    instance; woken up, the stale worker is stopped (lease lost, or refused by the fence)."""
    client = cluster.a.client(users.alice)
    thread_id, _ = flows.run_to_approval(client)
    cluster.marker.unlink(missing_ok=True)
    cluster.release.unlink()
    run = client.runs.create(thread_id, "support", command=APPROVE)
    pid = int(wait_for_file(cluster.marker, 30).split()[1])
    frozen, other = cluster.by_pid(pid)
    os.kill(frozen.pid, signal.SIGSTOP)
    try:
        cluster.release.touch()  # the other instance must not pause when it takes the run over
        done = wait_run(other.client(users.alice), thread_id, run["run_id"], timeout=60)
        assert done["status"] == "success"
        before = checkpoint_tree(cluster.db_url, thread_id)
    finally:
        os.kill(frozen.pid, signal.SIGCONT)
    time.sleep(3)  # the woken worker resumes, and must not write
    assert frozen.alive(), frozen.log_tail()
    assert checkpoint_tree(cluster.db_url, thread_id) == before
    assert branches(cluster.db_url, thread_id) == {}
    assert count(cluster.db_url, "support_payments", thread_id) == 1
    assert count(cluster.db_url, "support_outbox", thread_id) == 1
    state = other.client(users.alice).threads.get_state(thread_id)
    assert flows.values(state)["resolution"]["kind"] == "refunded"


def test_kill_9_of_the_paying_instance_requeues_the_run_and_pays_once(
    cluster: Cluster, users: Users
) -> None:
    """The run is finished from its last checkpoint by the other instance; a new instance then
    takes the killed one's place, for whatever test runs next."""
    client = cluster.a.client(users.alice)
    thread_id, _ = flows.run_to_approval(client)
    cluster.marker.unlink(missing_ok=True)
    cluster.release.unlink()
    run = client.runs.create(thread_id, "support", command=APPROVE)
    pid = int(wait_for_file(cluster.marker, 30).split()[1])
    victim, survivor = cluster.by_pid(pid)
    assert len(rows(cluster.db_url, "support_payments", thread_id)) == 1  # paid, then died
    before = checkpoint_tree(cluster.db_url, thread_id)
    victim.kill9()
    cluster.release.touch()
    cluster.replace(victim)

    done = wait_run(survivor.client(users.alice), thread_id, run["run_id"], timeout=60)
    assert done["status"] == "success", survivor.log_tail()
    assert count(cluster.db_url, "support_payments", thread_id) == 1
    state = survivor.client(users.alice).threads.get_state(thread_id)
    resolution = flows.values(state)["resolution"]
    assert (resolution["kind"], resolution["refund_amount"]) == ("refunded", "480.00")
    assert resolution["effects_replayed"] is True  # execute ran again and found the payment
    after = checkpoint_tree(cluster.db_url, thread_id)
    assert after[: len(before)] == before  # nothing rewritten: continued from the last one
    assert [row["source"] for row in after].count("input") == 1  # not restarted from input
    assert len(after) == len(before) + 1  # just the step that was lost: execute
    assert branches(cluster.db_url, thread_id) == {}

"""The deadline sweep as the servers run it, one flow for `langgraph dev` and Aegra.

A thread of Alice's waits at a question whose default (approve) applies after a couple of
seconds; nobody answers. The server's `sweep` worker (`waypoint.server.workers`, every
`WAYPOINT_SWEEP_SECONDS`) applies the default through the server's own API: the thread goes on
(the action runs: the default proceeds), the handoff and the ledger say `sweeper` answered, under
the role `deadline`, once. All the while `waypoint sweep` runs again and again in other processes,
on the same database, as a cron would: it never applies the server's question.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from tests.conftest import waypoint_cli
from tests.e2e.servers import AegraCluster, Server, Users, aegra_cluster
from tests.helpers import query
from tests.kit.conftest import KIT, KIT_GRAPHS

KIT_ENV = {
    "WAYPOINT_LANGGRAPH_JSON": str(KIT_GRAPHS),
    "WAYPOINT_CONFIG": str(KIT / "waypoint.toml"),
}
"""The kit's graphs and config, for the servers and the command line alike."""

SWEEP_SECONDS = "1"
"""The servers' sweep interval in these tests."""


def aegra_sweep_cluster(
    db_prefix: str,
    logs: Path,
    users: Users,
    *,
    instances: int,
    extra: Mapping[str, str] | None = None,
) -> AbstractContextManager[AegraCluster]:
    """`aegra_cluster` of instances serving the kit's `deadlines` graph, sweeping every second.

    Carol reviews `deadlines`; `extra` goes on top.
    """
    env = {
        **KIT_ENV,
        "WAYPOINT_ROLES": f"{users.carol.name}=reviewer:deadlines",
        "WAYPOINT_SWEEP_SECONDS": SWEEP_SECONDS,
        "BLPOP_TIMEOUT_SECONDS": "1",
        "N_JOBS_PER_WORKER": "4",
        **(extra or {}),
    }
    served = ("deadlines",)
    return aegra_cluster(
        db_prefix, logs, users=users, extra=env, instances=instances, served=served
    )


class CronSweeps:
    """`waypoint sweep --json` in a loop on another thread, as a cron beside the server."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.results: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            done = waypoint_cli("sweep", "--db", self.db_url, "--json", env=KIT_ENV)
            if done.returncode != 0:
                self.errors.append(done.stderr[-2000:])
            else:
                self.results.append(json.loads(done.stdout))

    def __enter__(self) -> CronSweeps:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=180)

    def applied(self) -> set[str]:
        """Every thread a command-line sweep applied a default to."""
        return {a["thread_id"] for r in self.results for a in r["applied"]}


def _until(check: Any, seconds: float, server: Server) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds}s; server log:\n{server.log_tail()}")


def ask_deadline(server: Server, users: Users, **given: Any) -> str:
    client = server.client(users.alice)
    thread = str(
        client.threads.create(metadata={"test": f"sweep-{uuid.uuid4().hex[:6]}"})["thread_id"]
    )
    for _ in client.runs.stream(thread, "deadlines", input=given, stream_mode="updates"):
        pass
    state: Mapping[str, Any] = client.threads.get_state(thread)
    assert state["next"] == ["ask"], state
    return thread


def decisions_of(db_url: str, thread: str, node: str = "ask") -> list[dict[str, Any]]:
    found = query(
        db_url,
        "SELECT human_decision FROM waypoint_ledger WHERE thread_id = ? AND node = ? "
        "AND human_decision IS NOT NULL",
        (thread, node),
    )
    return [json.loads(str(row["human_decision"])) for row in found]


def sweep_through_the_server(servers: list[Server], users: Users, db_url: str) -> None:
    """The flow: a default applied once by the servers' sweep workers, never by the cron."""
    server = servers[0]
    due = ask_deadline(server, users, on_timeout="approve", seconds=2)
    later = ask_deadline(server, users, on_timeout="reject", seconds=3600)
    [asked] = query(db_url, "SELECT served FROM waypoint_handoffs WHERE thread_id = ?", (due,))
    assert asked["served"] == 1  # a server's question: its worker applies it
    alice = server.client(users.alice)

    def values_of(thread: str) -> dict[str, Any]:
        values: Any = alice.threads.get_state(thread)["values"]
        assert isinstance(values, dict), values
        return values

    def outcome() -> Any:
        return values_of(due).get("outcome")

    with CronSweeps(db_url) as cron:
        _until(lambda: outcome() is not None, 60, server)
        time.sleep(2.5)  # more passes of every sweeper: nothing is applied again
    assert not cron.errors, cron.errors
    assert due not in cron.applied() and later not in cron.applied()

    values = values_of(due)
    assert (values["outcome"], values["acted"]) == ("approve", True)  # the default proceeded
    [decision] = decisions_of(db_url, due)  # answered once
    assert decision["decision"] == "approve"
    assert (decision["answered_by"], decision["answered_as"]) == ("sweeper", "deadline")
    [handoff] = query(
        db_url,
        "SELECT answered_by, claimed_by FROM waypoint_handoffs WHERE thread_id = ?",
        (due,),
    )
    assert handoff["answered_by"] == "sweeper"
    assert str(handoff["claimed_by"]).startswith("sweeper@") and "/server/" in str(
        handoff["claimed_by"]
    )
    runs = alice.runs.list(due)
    assert len(runs) == 2  # Alice's run, and the one resume the sweeper created for her thread
    assert (alice.threads.get(due)["metadata"] or {}).get("owner") == users.alice.name

    waiting = alice.threads.get_state(later)
    assert waiting["next"] == ["ask"]  # its deadline is an hour away
    assert not decisions_of(db_url, later)
    for other in servers:  # every instance is still up
        assert other.alive(), other.log_tail()

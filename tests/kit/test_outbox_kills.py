"""SIGKILL of the runner and of the relay at seeded random points around the external call.

Per backend: `RUN_KILLS` `waypoint run payer` processes (two payments each) and `RELAY_KILLS`
`waypoint relay --once` processes are killed at a pause point around the call (enqueue
transaction, just before sending, after the provider applied it but before the answer is
recorded, at node boundaries) or after a random delay, with faults from the fake mixed in
(slow answers, apply-then-drop). Each thread is then driven to its end the way an operator
would (`resume`, or `run` again when it died before its first checkpoint), a last relay drains
the outbox, and the fake's own ledger must show each payment applied exactly once.
Processes are forked from `tests/zygote.py` (Waypoint imported once), so the test costs the
runs, not the imports.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import waypoint_cli
from tests.helpers import query, run
from tests.integration.test_crash_soak import Zygote
from waypoint.errors import BadInput
from waypoint.fakes.payments import FakePayments, start_in_thread
from waypoint.outbox import DeliveryPending, call_once
from waypoint.persistence.side_effects import effect_key
from waypoint.persistence.stores import open_stores
from waypoint.runner import ThreadReport, resume_thread, start_run, thread_status

SEED = 20261204
RUN_KILLS = 20
RELAY_KILLS = 10
IN_FLIGHT = 3

RUN_POINTS = [
    "before:pay",
    "outbox:kit.payment:before_enqueue_commit",
    "outbox:kit.payment:before_send",
    "outbox:kit.payment:before_record",
    "after:pay",
    "before:receipt",
]
RELAY_POINTS = ["outbox:kit.payment:before_send", "outbox:kit.payment:before_record"]


@dataclass
class Kill:
    args: list[str]
    point: str | None
    delay: float
    marker: Path
    thread: str = ""
    payments: list[dict[str, str]] = field(default_factory=list)
    pid: int | None = None
    started: float = 0.0


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePayments]:
    service = start_in_thread(tmp_path / "payments-ledger.sqlite")
    monkeypatch.setenv("WAYPOINT_PROVIDER_PAYMENTS_URL", service.url)
    monkeypatch.setenv("WAYPOINT_PROVIDER_PAYMENTS_TIMEOUT", "1")
    yield service
    service.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _kill_all(kills: list[Kill], zygote: Zygote, db_url: str) -> int:
    """Run each planned process and SIGKILL it at its moment; how many were killed."""
    killed = 0
    queue = list(kills)
    running: list[Kill] = []
    env = {
        name: os.environ[name]
        for name in (
            "WAYPOINT_PROVIDER_PAYMENTS_URL",
            "WAYPOINT_PROVIDER_PAYMENTS_TIMEOUT",
            "WAYPOINT_LANGGRAPH_JSON",
            "WAYPOINT_CONFIG",
        )
    }
    while queue or running:
        while queue and len(running) < IN_FLIGHT:
            kill = queue.pop(0)
            extra = (
                {}
                if kill.point is None
                else {
                    "WAYPOINT_PAUSE_AT": kill.point,
                    "WAYPOINT_PAUSE_MARKER": str(kill.marker),
                }
            )
            kill.pid = zygote.spawn([*kill.args, "--db", db_url], {**env, **extra})
            kill.started = time.monotonic()
            running.append(kill)
        for kill in list(running):
            assert kill.pid is not None
            if not _alive(kill.pid):
                running.remove(kill)  # finished before its moment
                continue
            waited = time.monotonic() - kill.started
            due = kill.marker.exists() if kill.point is not None else waited >= kill.delay
            if due or waited > 20:
                os.kill(kill.pid, signal.SIGKILL)
                while _alive(kill.pid):
                    time.sleep(0.01)
                killed += 1
                running.remove(kill)
        time.sleep(0.01)
    return killed


def _drive_to_end(kill: Kill, db_url: str) -> ThreadReport:
    """What an operator does after a crash: continue the thread (or start it again)."""
    inputs = {"payments": kill.payments}
    for _ in range(6):
        try:
            report = run(thread_status(kill.thread, db_url=db_url))
        except BadInput:  # died before the thread existed
            report = run(start_run("payer", inputs, thread_id=kill.thread, db_url=db_url))
            continue
        if report.status == "completed":
            return report
        try:
            report = run(resume_thread(kill.thread, None, db_url=db_url))
        except BadInput as exc:
            if "before its first checkpoint" not in str(exc):
                raise
            report = run(start_run("payer", inputs, thread_id=kill.thread, db_url=db_url))
        if report.status == "completed":
            return report
    raise AssertionError(f"{kill.thread} did not end: {report.status} {report.values}")


async def _enqueue_pending(db_url: str, references: list[str]) -> None:
    """Outbox rows left pending (the provider is down): the relay's work."""
    async with open_stores(db_url) as stores:
        for ref in references:
            with pytest.raises(DeliveryPending):
                await call_once(
                    provider="payments",
                    path="/payments",
                    body={"amount": "4.00", "currency": "USD", "reference": ref},
                    key=effect_key("kit.payment", ref),
                    kind="kit.payment",
                    db=stores.db,
                    thread_id=f"relay-{ref}",
                )
        await stores.db.execute(
            "UPDATE waypoint_outbox SET next_attempt_at = 0 WHERE status = 'pending'"
        )


def test_kills_around_the_external_call_never_pay_twice(
    own_db_url: str, fake: FakePayments, tmp_path: Path
) -> None:
    """It relays every pending row of its database: the database is this test's alone."""
    db_url = own_db_url
    rng = random.Random(f"{SEED}:{db_url.split(':')[0]}")
    fake.inject(*rng.choices(["slow:0.4", "drop_after_apply", "error_before"], k=6))
    runs: list[Kill] = []
    for index in range(RUN_KILLS):
        payments = [
            {"reference": f"K{index}-{uuid.uuid4().hex[:8]}", "amount": f"{rng.randint(1, 99)}.00"}
            for _ in range(2)
        ]
        thread = f"kill-{index}-{uuid.uuid4().hex[:8]}"
        runs.append(
            Kill(
                args=[
                    "run",
                    "payer",
                    "--input",
                    json.dumps({"payments": payments}),
                    "--thread",
                    thread,
                ],
                point=rng.choice(RUN_POINTS) if rng.random() < 0.75 else None,
                delay=rng.uniform(0.05, 1.5),
                marker=tmp_path / f"run-{index}",
                thread=thread,
                payments=payments,
            )
        )
    relay_refs = [f"Q-{uuid.uuid4().hex[:8]}" for _ in range(RELAY_KILLS * 2)]
    fake.inject(outage_seconds=60)
    run(_enqueue_pending(db_url, relay_refs))
    fake.inject(outage_seconds=0)
    relays = [
        Kill(
            args=["relay", "--once", "--max-backoff", "0.2", "--attempts", "50", "--lease", "0.5"],
            point=rng.choice(RELAY_POINTS) if rng.random() < 0.75 else None,
            delay=rng.uniform(0.05, 0.5),
            marker=tmp_path / f"relay-{index}",
        )
        for index in range(RELAY_KILLS)
    ]
    zygote = Zygote()
    try:
        killed = _kill_all(runs, zygote, db_url) + _kill_all(relays, zygote, db_url)
    finally:
        zygote.close()
    assert killed >= 25, killed  # most die at their moment; a few finish first

    for kill in runs:
        report = _drive_to_end(kill, db_url)
        assert report.values["receipt"] and len(report.values["paid"]) == 2
        for payment in kill.payments:
            assert fake.applied(payment["reference"])["payments"] == 1, payment
    drained = waypoint_cli(
        "relay", "--once", "--max-backoff", "0.2", "--lease", "0.5", "--db", db_url
    )
    assert drained.returncode == 0, drained.stderr
    for ref in relay_refs:
        assert fake.applied(ref)["payments"] == 1, ref
    left = query(db_url, "SELECT count(*) AS n FROM waypoint_outbox WHERE status = 'pending'")
    assert left == [{"n": 0}]
    total = fake.applied()["payments"]
    assert total == RUN_KILLS * 2 + len(relay_refs)

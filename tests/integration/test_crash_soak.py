"""Crash soak: SIGKILL `run` and `resume --approve` at seeded random points, then recover.

Each backend gets `KILLS` kills of real `waypoint` processes, forked from a process that has
imported Waypoint once (`tests/zygote.py`), so the soak costs the runs, not the imports. A kill
lands either at a random pause point (a node boundary, a task's saved writes, inside an
effect's transaction: `waypoint.faults`) or after a random delay. Then the thread is driven to
its end the way an operator would (`resume`, and the approval answered when it waits) and must
end `completed` with exactly one payment and one reply: no lost refund, no double payment, in
any window.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import PROJECT_ROOT
from tests.helpers import add_order, count, run
from waypoint.errors import BadInput
from waypoint.persistence.stores import open_stores
from waypoint.runner import ThreadReport, resume_thread, start_run, thread_status

SEED = 20261203
KILLS = 40
IN_FLIGHT = 3
"""Killed processes running at once (the machine has two cores)."""

AUTO = {"customer_id": "C-100", "order_id": "O-1", "message": "My mug arrived broken, refund."}
APPROVAL = {"customer_id": "C-200", "order_id": "O-2", "message": "The chair is damaged, refund."}
AMOUNTS = {"O-1": "25.00", "O-2": "480.00"}

RUN_POINTS = [
    *(f"before:{n}" for n in ("intake", "classify", "lookup", "decide", "draft", "execute")),
    *(f"after:{n}" for n in ("classify", "decide", "review_gate", "execute")),
    *(f"writes:{n}" for n in ("intake", "lookup", "draft", "review_gate", "execute")),
    "effect:support.payment:before_commit",
    "effect:support.payment:after_commit",
    "effect:support.reply:before_commit",
    "effect:support.reply:after_commit",
]
RESUME_POINTS = [
    "before:approval",
    "after:approval",
    "writes:approval",
    "before:execute",
    "writes:execute",
    "effect:support.payment:before_commit",
    "effect:support.payment:after_commit",
    "effect:support.reply:before_commit",
    "effect:support.reply:after_commit",
]


@dataclass
class Kill:
    """One planned kill: what runs, on which thread, and where it dies."""

    thread: str
    ticket: dict[str, str]
    resume: bool
    point: str | None
    delay: float
    amount: str = ""
    pid: int | None = None
    marker: Path | None = None


def _plan(rng: random.Random, tmp_path: Path) -> list[Kill]:
    kills = []
    for index in range(KILLS):
        resume = rng.random() < 0.5
        base = APPROVAL if resume else AUTO
        points = RESUME_POINTS if resume else RUN_POINTS
        by_point = rng.random() < 0.7
        kills.append(
            Kill(
                thread=f"soak-{index}-{uuid.uuid4().hex[:8]}",
                ticket={**base, "ticket_id": f"T-S{index}"},
                resume=resume,
                point=rng.choice(points) if by_point else None,
                delay=rng.uniform(0.02, 0.6),
                marker=tmp_path / f"marker-{index}",
            )
        )
    return kills


class Zygote:
    """`tests/zygote.py`: forks `waypoint` processes on request."""

    def __init__(self) -> None:
        """Start it; it imports Waypoint once."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.zygote"],
            cwd=PROJECT_ROOT,
            env={**os.environ, "LANGGRAPH_STRICT_MSGPACK": "true"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def spawn(self, args: list[str], env: dict[str, str]) -> int:
        """A new `waypoint ARGS` process; its pid."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"args": args, "env": env}) + "\n")
        self.proc.stdin.flush()
        return int(json.loads(self.proc.stdout.readline())["pid"])

    def close(self) -> None:
        """Stop forking (children already started run on or were killed)."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _start(kill: Kill, db_url: str, zygote: Zygote) -> None:
    args = (
        ["resume", kill.thread, "--approve"]
        if kill.resume
        else ["run", "support", "--input", json.dumps(kill.ticket), "--thread", kill.thread]
    )
    env = {}
    if kill.point is not None:
        assert kill.marker is not None
        env = {"WAYPOINT_PAUSE_AT": kill.point, "WAYPOINT_PAUSE_MARKER": str(kill.marker)}
    kill.pid = zygote.spawn([*args, "--db", db_url], env)


def _reap(kill: Kill, started: float) -> bool:
    """Kill the process when its moment came; True once it is gone (killed or finished)."""
    assert kill.pid is not None
    if not _alive(kill.pid):
        return True  # it finished before its point (a path that never reaches it)
    due = (
        kill.marker is not None and kill.marker.exists()
        if kill.point is not None
        else time.monotonic() - started >= kill.delay
    )
    if kill.point is not None and time.monotonic() - started > 60:
        due = True  # never reached: kill it anyway, the thread must still recover
    if due:
        os.kill(kill.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _alive(kill.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        return True
    return False


def _drive_to_end(thread: str, db_url: str) -> ThreadReport:
    """What an operator does after a crash: continue it, answer the approval, until it ends."""
    report = run(thread_status(thread, db_url=db_url))
    for _ in range(6):
        if report.status == "completed":
            return report
        if report.status == "waiting":
            report = run(resume_thread(thread, {"decisions": [{"type": "approve"}]}, db_url=db_url))
        elif report.status in ("incomplete", "failed"):
            report = run(resume_thread(thread, db_url=db_url))
        else:
            raise AssertionError(f"{thread} ended {report.status}: {report.values}")
    raise AssertionError(f"{thread} did not end: {report.status}")


async def open_and_migrate(db_url: str) -> None:
    """Create the tables (the CRM's included), so orders can be added before any run."""
    import graphs.support  # noqa: F401  (registers the workflow's tables)

    async with open_stores(db_url):
        pass


def _prepare(kills: list[Kill], db_url: str) -> None:
    """Each kill refunds an order of its own; those killed in `resume --approve` first run up
    to their approval, unharmed."""
    run(open_and_migrate(db_url))
    for kill in kills:
        like = kill.ticket["order_id"]
        kill.ticket["order_id"] = add_order(db_url, f"{like}-{kill.thread}".upper(), like=like)
        kill.amount = AMOUNTS[like]
        if kill.resume:
            waiting = run(start_run("support", kill.ticket, thread_id=kill.thread, db_url=db_url))
            assert waiting.status == "waiting"


def test_sigkill_at_random_points_loses_nothing_and_pays_once(db_url: str, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    kills = _plan(rng, tmp_path)
    _prepare(kills, db_url)
    pending = list(kills)
    running: list[tuple[Kill, float]] = []
    zygote = Zygote()
    try:
        while pending or running:
            while pending and len(running) < IN_FLIGHT:
                kill = pending.pop(0)
                _start(kill, db_url, zygote)
                running.append((kill, time.monotonic()))
            running = [(k, t) for k, t in running if not _reap(k, t)]
            time.sleep(0.01)
    finally:
        zygote.close()

    outcomes = []
    for kill in kills:
        try:
            end = _drive_to_end(kill.thread, db_url)
        except BadInput as exc:  # died before its first checkpoint: start it again
            assert "before its first checkpoint" in str(exc) or "no thread" in str(exc), exc
            end = run(start_run("support", kill.ticket, thread_id=kill.thread, db_url=db_url))
            end = _drive_to_end(kill.thread, db_url)
        amount = end.values["resolution"]["refund_amount"]
        outcomes.append(
            (
                kill.point or f"{kill.delay:.2f}s",
                amount,
                count(db_url, "support_payments", kill.thread),
                count(db_url, "support_outbox", kill.thread),
            )
        )
        assert amount == kill.amount, (kill, end.values)
    assert all(paid == 1 and sent == 1 for _, _, paid, sent in outcomes), outcomes
    assert len(outcomes) == KILLS

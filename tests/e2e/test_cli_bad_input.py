"""Bad input to the real `waypoint` command: exit 2, a message naming the field, nothing written.

Each command is a real process (~2 s of imports each), so this file keeps to the cases the
command line itself must get right; the full validation matrix runs in-process on both backends
in `tests/integration/test_bad_input.py`. The commands are independent, so each group runs
concurrently (two at a time, one per core) in a module fixture, and the parametrized tests then
check one result each.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import waypoint_cli
from tests.helpers import demo_input, footprint, query, run, sqlite_path
from waypoint.runner import resume_thread, start_run

GOOD = json.dumps(demo_input("auto refund"))


def without(key: str) -> str:
    ticket = demo_input("auto refund")
    del ticket[key]
    return json.dumps(ticket)


def with_(**changes: Any) -> str:
    return json.dumps(demo_input("auto refund", **changes))


# case id -> (arguments after `run`, words the error must contain)
RUN_CASES: dict[str, tuple[list[str], list[str]]] = {
    "missing customer_id": (
        ["support", "--input", without("customer_id")],
        ["input.customer_id", "Field required"],
    ),
    "message is a number": (
        ["support", "--input", with_(message=5)],
        ["input.message", "valid string", "(got 5)"],
    ),
    "empty message": (
        ["support", "--input", with_(message="")],
        ["input.message", "at least 1 character"],
    ),
    "malformed JSON": (["support", "--input", '{"ticket_id": "T-1",'], ["input: malformed JSON"]),
    "unknown graph": (["billing", "--input", GOOD], ["graph: unknown graph 'billing'", "support"]),
    "input and input-file": (
        ["support", "--input", GOOD, "--input-file", "{ticket_file}"],
        ["input: give exactly one of --input JSON or --input-file PATH"],
    ),
}


@dataclass
class Outcome:
    """One finished command and the database it was pointed at."""

    db_url: str
    result: subprocess.CompletedProcess[str]
    thread: str = ""
    before: dict[str, Any] = field(default_factory=dict)


def concurrently(jobs: dict[str, Callable[[], Outcome]]) -> dict[str, Outcome]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.fixture(scope="module")
def run_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    def job(args: list[str]) -> Callable[[], Outcome]:
        folder = tmp_path_factory.mktemp("run")
        ticket_file = folder / "ticket.json"
        ticket_file.write_text(GOOD)
        filled = [
            a.replace("{ticket_file}", str(ticket_file)).replace("{tmp}", str(folder)) for a in args
        ]
        db_url = f"sqlite:///{folder / 'db' / 'waypoint.sqlite'}"
        return lambda: Outcome(db_url, waypoint_cli("run", *filled, "--db", db_url))

    jobs = {name: job(args) for name, (args, _) in RUN_CASES.items()}
    jobs["control: good --input-file"] = job(["support", "--input-file", "{ticket_file}", "--json"])
    return concurrently(jobs)


@pytest.mark.parametrize("case", list(RUN_CASES))
def test_bad_run_input_exits_2_names_the_field_and_writes_nothing(
    run_outcomes: dict[str, Outcome], case: str
) -> None:
    outcome = run_outcomes[case]
    assert outcome.result.returncode == 2, outcome.result.stdout + outcome.result.stderr
    message = " ".join(outcome.result.stderr.split())
    assert message.startswith("error:")
    for words in RUN_CASES[case][1]:
        assert words in message
    assert "Traceback" not in outcome.result.stderr
    assert outcome.result.stdout == ""
    # validated before the database is touched: the SQLite file was not even created
    assert not sqlite_path(outcome.db_url).exists()
    assert not sqlite_path(outcome.db_url).parent.exists()


def test_control_good_input_file_runs_and_writes(run_outcomes: dict[str, Outcome]) -> None:
    outcome = run_outcomes["control: good --input-file"]
    assert outcome.result.returncode == 0, outcome.result.stderr
    report = json.loads(outcome.result.stdout)
    assert report["status"] == "completed"
    paid = query(
        outcome.db_url,
        "SELECT amount FROM support_payments WHERE thread_id = ?",
        (report["thread_id"],),
    )
    assert paid == [{"amount": "25.00"}]


def test_bad_input_on_postgres_writes_nothing(pg_url: str) -> None:
    thread = f"bad-{uuid.uuid4().hex[:12]}"
    result = waypoint_cli(
        "run", "support", "--input", without("customer_id"), "--thread", thread, "--db", pg_url
    )
    assert result.returncode == 2
    assert "input.customer_id" in result.stderr
    assert footprint(pg_url, thread) == {
        "checkpoints": 0,
        "payments": 0,
        "outbox": 0,
        "effects": 0,
        "thread": None,
    }


# --- resume ---------------------------------------------------------------------------------

# case id -> (demo case to leave waiting or done, or None for an unknown thread;
#             arguments after the thread id; words the error must contain)
RESUME_CASES: dict[str, tuple[str | None, list[str], list[str]]] = {
    "unknown thread": (None, ["--approve"], ["thread: no thread", "waypoint threads"]),
    "completed thread, --approve": ("auto refund", ["--approve"], ["not waiting for a human"]),
    "escalation, --approve": (
        "unknown customer",
        ["--approve"],
        ["decisions[0].type", "expected one of respond, reject", "'approve'"],
    ),
    "empty --respond": (
        "approval needed",
        ["--respond", ""],
        ["decisions[0].message", "reply text"],
    ),
    "two decisions": (
        "approval needed",
        ["--approve", "--reject"],
        ["decision: choose one of --approve, --reject"],
    ),
    "--edit malformed JSON": (
        "approval needed",
        ["--edit", "amount=200"],
        ["edit: malformed JSON"],
    ),
}


@pytest.fixture(scope="module")
def resume_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    def job(case: str | None, args: list[str]) -> Callable[[], Outcome]:
        db_url = f"sqlite:///{tmp_path_factory.mktemp('resume') / 'waypoint.sqlite'}"
        thread = f"resume-{uuid.uuid4().hex[:12]}"
        if case is not None:
            run(start_run("support", demo_input(case), thread_id=thread, db_url=db_url))
        before = footprint(db_url, thread)

        def go() -> Outcome:
            return Outcome(
                db_url, waypoint_cli("resume", thread, *args, "--db", db_url), thread, before
            )

        return go

    jobs = {name: job(case, args) for name, (case, args, _) in RESUME_CASES.items()}
    return concurrently(jobs)


@pytest.mark.parametrize("case", list(RESUME_CASES))
def test_bad_resume_exits_2_names_the_field_and_changes_nothing(
    resume_outcomes: dict[str, Outcome], case: str
) -> None:
    outcome = resume_outcomes[case]
    assert outcome.result.returncode == 2, outcome.result.stdout + outcome.result.stderr
    message = " ".join(outcome.result.stderr.split())
    assert message.startswith("error:")
    for words in RESUME_CASES[case][2]:
        assert words in message
    assert "Traceback" not in outcome.result.stderr
    after = footprint(outcome.db_url, outcome.thread)
    assert after == outcome.before  # same checkpoints, rows and index entry (incl. updated_at)
    if RESUME_CASES[case][0] is None:
        assert after["thread"] is None and after["checkpoints"] == 0


def test_refused_answers_leave_the_thread_answerable(resume_outcomes: dict[str, Outcome]) -> None:
    outcome = resume_outcomes["empty --respond"]
    assert outcome.before["thread"]["status"] == "waiting"
    done = run(
        resume_thread(outcome.thread, {"decisions": [{"type": "approve"}]}, db_url=outcome.db_url)
    )
    assert done.status == "completed"
    assert footprint(outcome.db_url, outcome.thread)["payments"] == 1


def test_resuming_an_unknown_thread_leaves_no_holder_row(
    resume_outcomes: dict[str, Outcome],
) -> None:
    outcome = resume_outcomes["unknown thread"]
    holders = query(
        outcome.db_url,
        "SELECT * FROM waypoint_thread_holders WHERE thread_id = ?",
        (outcome.thread,),
    )
    assert holders == []

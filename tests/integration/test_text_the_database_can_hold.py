"""Text Postgres cannot store is refused up front, the same way on both backends.

A NUL character in a ticket, a context, an answer or a fork update once crashed Postgres runs
with `UntranslatableCharacter` and a traceback, leaving the thread indexed as `running` for
ever, while SQLite accepted it. A 6,000-character thread id gave `ProgramLimitExceeded`. Now
both backends refuse such input with exit 2, naming the field, and write nothing.
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests.cli_inprocess import assert_refused, invoke, ticket_json
from tests.helpers import demo_input, footprint, run
from waypoint.runner import start_run

NOTHING = {"checkpoints": 0, "payments": 0, "outbox": 0, "effects": 0, "thread": None}


def new_thread() -> str:
    return f"tx-{uuid.uuid4().hex[:12]}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("message", "refund\x00please"),
        ("ticket_id", "T-\x00"),
        ("customer_id", "\x00"),
        ("order_id", "O-1\x00"),
        ("message", "lone \ud800 surrogate"),
    ],
)
def test_a_ticket_with_text_no_database_can_hold_is_refused(
    db_url: str, field: str, value: str
) -> None:
    thread = new_thread()
    raw = json.dumps(demo_input("auto refund", **{field: value}))  # \u0000 / \ud800 escapes
    outcome = invoke("run", "support", "--input", raw, "--thread", thread, "--db", db_url)
    assert_refused(outcome, f"input.{field}:")
    assert footprint(db_url, thread) == NOTHING  # not left `running`, not there at all


@pytest.mark.parametrize(
    ("context", "words"),
    [
        ({"model": "openai:gpt\x00"}, ["context.model", "NUL"]),
        ({"budgets": {"steps\x00": 3}}, ["context.budgets", "NUL"]),
    ],
)
def test_a_context_with_a_nul_is_refused(db_url: str, context: object, words: list[str]) -> None:
    thread = new_thread()
    outcome = invoke(
        "run", "support", "--input", ticket_json(), "--thread", thread, "--db", db_url,
        "--context", json.dumps(context),
    )  # fmt: skip
    assert_refused(outcome, *words)
    assert footprint(db_url, thread) == NOTHING


def waiting_thread(db_url: str) -> str:
    thread = new_thread()
    report = run(
        start_run("support", demo_input("approval needed"), thread_id=thread, db_url=db_url)
    )
    assert report.status == "waiting"
    return thread


@pytest.mark.parametrize(
    ("decision", "words"),
    [
        (["--reject", "--reason", "no\x00"], ["reason:", "NUL"]),
        (["--respond", "hello\x00"], ["respond:", "NUL"]),
        (["--edit", '{"reply": "hi\\u0000"}'], ["edit.reply", "NUL"]),
        (["--edit", '{"reply": "\\ud83d"}'], ["edit.reply", "surrogate"]),
    ],
)
def test_an_answer_with_a_nul_leaves_the_thread_waiting(
    db_url: str, decision: list[str], words: list[str]
) -> None:
    thread = waiting_thread(db_url)
    before = footprint(db_url, thread)
    assert_refused(invoke("resume", thread, *decision, "--db", db_url), *words)
    assert footprint(db_url, thread) == before
    done = invoke("resume", thread, "--approve", "--db", db_url)
    assert done.exit_code == 0, done.describe()  # still answerable, nothing corrupted


def test_a_fork_update_with_a_nul_writes_no_branch(db_url: str) -> None:
    thread = waiting_thread(db_url)
    history = invoke("history", thread, "--json", "--db", db_url)
    assert history.exit_code == 0, history.describe()
    checkpoint = json.loads(history.stdout)["checkpoints"][0]["checkpoint_id"]
    before = footprint(db_url, thread)
    outcome = invoke(
        "fork", thread, "--from", checkpoint, "--update", '{"message": "x\\u0000"}',
        "--db", db_url,
    )  # fmt: skip
    assert_refused(outcome, "update.message", "NUL")
    assert footprint(db_url, thread) == before


def test_a_kill_reason_with_a_nul_is_refused(db_url: str) -> None:
    thread = waiting_thread(db_url)
    outcome = invoke("kill", thread, "--reason", "stop\x00", "--db", db_url)
    assert_refused(outcome, "reason:", "NUL")


def test_a_compensation_reason_with_a_nul_is_refused(db_url: str) -> None:
    thread = waiting_thread(db_url)
    outcome = invoke("compensate", thread, "--reason", "undo\x00", "--db", db_url)
    assert_refused(outcome, "reason:", "NUL")


BAD_THREAD_IDS = {
    "6,000 characters": "t" * 6000,
    "NUL": "a\x00b",
    "newline": "a\nb",
    "right-to-left override": "abc\u202e",
    "blank": "   ",
    "leading space": " t-1",
    "empty": "",
}

# command -> arguments around the thread id ({t})
THREAD_COMMANDS: dict[str, list[str]] = {
    "run": ["run", "support", "--input", ticket_json(), "--thread", "{t}"],
    "record": ["record", "support", "--input", ticket_json(), "--thread", "{t}", "--out", "{o}"],
    "resume": ["resume", "{t}", "--approve"],
    "resume (continue)": ["resume", "{t}"],
    "status": ["status", "{t}"],
    "history": ["history", "{t}"],
    "show": ["show", "{t}"],
    "diff": ["diff", "{t}", "a", "b"],
    "replay": ["replay", "{t}", "--from", "x"],
    "fork": ["fork", "{t}", "--from", "x", "--update", '{"message": "m"}'],
    "kill": ["kill", "{t}", "--reason", "stop"],
    "compensate": ["compensate", "{t}", "--reason", "undo"],
    "audit": ["audit", "{t}"],
    "prune": ["prune", "--thread", "{t}"],
}


@pytest.mark.parametrize("bad", list(BAD_THREAD_IDS))
@pytest.mark.parametrize("command", list(THREAD_COMMANDS))
def test_every_command_checks_its_thread_id_the_same_way(
    sqlite_url: str, tmp_path: object, command: str, bad: str
) -> None:
    thread = BAD_THREAD_IDS[bad]
    args = [
        a.replace("{t}", thread).replace("{o}", f"{tmp_path}/t.jsonl")
        for a in THREAD_COMMANDS[command]
    ]
    outcome = invoke(*args, "--db", sqlite_url)
    assert_refused(outcome, "thread:")


def test_thread_ids_are_checked_on_postgres_too(pg_url: str) -> None:
    """The 6,000-character id once reached Postgres (`ProgramLimitExceeded`)."""
    for name in ("run", "status", "resume", "kill", "audit", "history"):
        args = [a.replace("{t}", "t" * 6000) for a in THREAD_COMMANDS[name]]
        assert_refused(invoke(*args, "--db", pg_url), "thread:", "at most 128")


def test_a_long_but_sane_thread_id_works(db_url: str) -> None:
    """Control: 128 characters of letters, digits and punctuation are fine."""
    thread = f"ok-{uuid.uuid4().hex}-" + "x" * (128 - 36)
    assert len(thread) == 128
    outcome = invoke("run", "support", "--input", ticket_json(), "--thread", thread, "--db", db_url)
    assert outcome.exit_code == 0, outcome.describe()
    assert footprint(db_url, thread)["payments"] == 1

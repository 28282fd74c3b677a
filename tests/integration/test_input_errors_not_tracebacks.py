"""Inputs that once ended in a traceback (or a silent wrong value) end in one clear line, exit 2.

Deeply nested or non-UTF-8 input files, unusable `--db` paths, a garbage Postgres URL, numbers
past what Python's dates and SQL integers hold, a 10 MB message echoed whole, answers whose
amounts Python's `Decimal` reads loosely (`1_0` was 10.00), and a model setting that cannot be
built (which once wrote a thread before failing).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.cli_inprocess import assert_refused, invoke, ticket_json
from tests.helpers import demo_input, footprint, run
from waypoint.runner import start_run

NOTHING = {"checkpoints": 0, "payments": 0, "outbox": 0, "effects": 0, "thread": None}


def new_thread() -> str:
    return f"tb-{uuid.uuid4().hex[:12]}"


def test_an_input_file_nested_a_thousand_levels_deep(sqlite_url: str, tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 1200 + "]" * 1200)
    outcome = invoke("run", "support", "--input-file", str(deep), "--db", sqlite_url)
    assert_refused(outcome, "input:", "nested deeper than")
    medium = tmp_path / "medium.json"  # parses, but still far deeper than any input
    medium.write_text('{"message": ' + "[" * 200 + "]" * 200 + "}")
    assert_refused(invoke("run", "support", "--input-file", str(medium)), "nested deeper")
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()


def test_an_input_file_that_is_not_utf8(sqlite_url: str, tmp_path: Path) -> None:
    latin = tmp_path / "ticket.json"
    text = json.dumps(demo_input("auto refund", message="café"), ensure_ascii=False)
    latin.write_bytes(text.encode("latin-1"))
    outcome = invoke("run", "support", "--input-file", str(latin), "--db", sqlite_url)
    assert_refused(outcome, "input-file:", "not UTF-8")
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()


def test_db_pointing_at_a_folder_a_foreign_file_or_nowhere(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not a database")
    blocked = tmp_path / "blocker"
    blocked.write_text("a file where a folder should be")
    cases = {
        f"sqlite:///{folder}": "is a folder",
        f"sqlite:///{foreign}": "is not an SQLite database",
        f"sqlite:///{blocked}/sub/w.sqlite": "is not a folder",
        "sqlite:////proc/waypoint.sqlite": "cannot write in",  # even root cannot create it
        "sqlite:////proc/waypoint/w.sqlite": "cannot write in",
    }
    before = sorted(p.name for p in tmp_path.rglob("*"))
    for url, words in cases.items():
        for args in (["threads"], ["run", "support", "--input", ticket_json()]):
            assert_refused(invoke(*args, "--db", url), "db:", words)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no file, no -wal, no folder
    assert foreign.read_text() == "not a database"


def test_a_garbage_postgres_url_is_bad_input_at_once() -> None:
    for url in ("postgresql://%%%:x@/", "postgresql://a b@host/db", "postgres://h/d?nosuch=1"):
        assert_refused(invoke("threads", "--db", url), "db: not a valid Postgres URL")


def test_an_unreachable_postgres_is_exit_1_with_a_clear_message() -> None:
    outcome = invoke("threads", "--db", "postgresql://postgres@127.0.0.1:1/postgres")
    assert_refused(outcome, "cannot reach Postgres", "--db", code=1)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["kpis", "--since", "999999999999d"], ["since:", "at most"]),
        (["kpis", "--since", "99999999w"], ["since:", "at most"]),
        (["kpis", "--since", "7 days"], ["since:", "e.g. 7d"]),
        (["prune", "--older-than", "999999999999d"], ["older-than:", "at most"]),
        (["threads", "--limit", "1e20"], ["--limit"]),
        (["threads", "--limit", "100000000000000000000"], ["--limit"]),
        (["history", "t-1", "--limit", "100000000000000000000"], ["--limit"]),
        (["prune", "--keep-last", "100000000000000000000"], ["keep-last"]),
        (["prune", "--keep-last", "0"], ["keep-last"]),
    ],
)
def test_numbers_out_of_range(db_url: str, args: list[str], words: list[str]) -> None:
    assert_refused(invoke(*args, "--db", db_url), *words)


def test_a_huge_message_is_not_echoed_whole(db_url: str) -> None:
    thread = new_thread()
    huge = "x" * 10_000_000
    outcome = invoke(
        "run", "support", "--input", ticket_json(message=huge), "--thread", thread, "--db", db_url
    )
    line = assert_refused(outcome, "input.message", "at most 10000 characters", "10,000,000")
    assert len(line) < 600
    assert footprint(db_url, thread) == NOTHING


@pytest.mark.parametrize("amount", ["1_0", "1e3", "NaN", "Infinity", "-Infinity", " 5", "0x10"])
def test_answer_amounts_must_be_plain_decimals(db_url: str, amount: str) -> None:
    thread = new_thread()
    report = run(
        start_run("support", demo_input("approval needed"), thread_id=thread, db_url=db_url)
    )
    assert report.status == "waiting"
    before = footprint(db_url, thread)
    edit = json.dumps({"amount": amount})
    assert_refused(invoke("resume", thread, "--edit", edit, "--db", db_url), "amount")
    assert footprint(db_url, thread) == before  # no payment of 10.00 for "1_0"


def test_json_nan_is_not_a_number(db_url: str) -> None:
    thread = new_thread()
    run(start_run("support", demo_input("approval needed"), thread_id=thread, db_url=db_url))
    outcome = invoke("resume", thread, "--edit", '{"amount": NaN}', "--db", db_url)
    assert_refused(outcome, "edit:", "NaN")
    assert footprint(db_url, thread)["payments"] == 0


@pytest.mark.parametrize(
    ("model", "words"),
    [
        ("nosuch:thing", ["context.model", "unknown provider 'nosuch'"]),
        ("abc", ["context.model", "provider:model"]),
        ("anthropic:claude-x", ["context.model", "langchain-anthropic", "not installed"]),
    ],
)
def test_a_model_that_cannot_be_built_writes_no_thread(
    db_url: str, model: str, words: list[str]
) -> None:
    thread = new_thread()
    outcome = invoke(
        "run", "support", "--input", ticket_json(), "--thread", thread, "--db", db_url,
        "--context", json.dumps({"model": model}),
    )  # fmt: skip
    assert_refused(outcome, *words)
    assert footprint(db_url, thread) == NOTHING


def test_markup_in_a_thread_id_is_shown_not_interpreted(sqlite_url: str) -> None:
    """rich once read `[/x]` in an error as a closing tag and crashed."""
    assert_refused(invoke("status", "[/x]", "--db", sqlite_url), "no thread '[/x]'")


def test_usage_errors_are_one_line_too(sqlite_url: str) -> None:
    assert_refused(invoke("run"), "Missing argument", "waypoint run --help")
    assert_refused(invoke("threads", "--nosuch"), "No such option", "--nosuch")

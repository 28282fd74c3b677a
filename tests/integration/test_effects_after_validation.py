"""Everything that can be checked is checked before a run pays anything.

`waypoint run --record PATH` and `waypoint record --answer ...` once paid the refund and only then
found the trace path unusable or the answer malformed, exiting 2 ("nothing written") so that a
retry paid again. Each bad invocation here must leave no payment row. An answer that is well
formed but does not fit (known only once the run asks) must not be reported as "nothing
written": the thread is kept and the message says so, with exit 1.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.cli_inprocess import assert_refused, invoke, ticket_json
from tests.helpers import count, footprint, thread_row

NOTHING = {"checkpoints": 0, "payments": 0, "outbox": 0, "effects": 0, "thread": None}


def new_thread() -> str:
    return f"fx-{uuid.uuid4().hex[:12]}"


def test_record_into_a_missing_folder_is_refused_before_the_run(
    db_url: str, tmp_path: Path
) -> None:
    thread = new_thread()
    target = tmp_path / "missing" / "x.jsonl"
    outcome = invoke(
        "run", "support", "--input", ticket_json(), "--thread", thread, "--db", db_url,
        "--record", str(target),
    )  # fmt: skip
    assert_refused(outcome, "record:", "does not exist")
    assert footprint(db_url, thread) == NOTHING
    assert not (tmp_path / "missing").exists()  # the folder is not created either


def test_record_onto_a_folder_is_refused_and_leaves_no_temporary_file(
    db_url: str, tmp_path: Path
) -> None:
    thread = new_thread()
    folder = tmp_path / "traces"
    folder.mkdir()
    outcome = invoke(
        "run", "support", "--input", ticket_json(), "--thread", thread, "--db", db_url,
        "--record", str(folder),
    )  # fmt: skip
    assert_refused(outcome, "record:", "is a folder")
    assert footprint(db_url, thread) == NOTHING
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".traces")) == []
    assert list(folder.iterdir()) == []


def test_record_command_checks_its_out_path_first(db_url: str, tmp_path: Path) -> None:
    thread = new_thread()
    outcome = invoke(
        "record", "support", "--input", ticket_json(), "--thread", thread, "--db", db_url,
        "--out", str(tmp_path / "nowhere" / "t.jsonl"),
    )  # fmt: skip
    assert_refused(outcome, "out:", "does not exist")
    assert footprint(db_url, thread) == NOTHING


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ('{"foo": 1}', ["answer[1].type", "expected one of"]),
        ('{"type": "approve", "args": {"amount": "5"}}', ["only an edit decision"]),
        ('{"type": "respond"}', ["answer[1].message", "reply text"]),
        ('{"type": "respond", "message": "hi\\u0000"}', ["message", "NUL"]),
        ('{"type": "edit"}', ["answer[1].args"]),
        ('{"type": "reject", "mesage": "typo"}', ["answer[1].mesage", "unknown field"]),
        ('{"decisions": "approve"}', ["answer[1].decisions", "list"]),
        ('{"decisions": [{"type": "edit", "args": {}}]}', ["answer[1].decisions[0]"]),
    ],
)
def test_malformed_recorded_answers_are_refused_before_the_run_pays(
    db_url: str, tmp_path: Path, answer: str, words: list[str]
) -> None:
    """An auto refund pays at once: the answer must be judged before the run starts."""
    thread = new_thread()
    outcome = invoke(
        "record", "support", "--input", ticket_json(), "--thread", thread, "--db", db_url,
        "--answer", answer, "--out", str(tmp_path / "t.jsonl"),
    )  # fmt: skip
    assert_refused(outcome, *words)
    assert footprint(db_url, thread) == NOTHING
    assert not (tmp_path / "t.jsonl").exists()


def test_a_left_over_answer_after_a_payment_is_not_called_bad_input(
    db_url: str, tmp_path: Path
) -> None:
    """The run paid; exit 2 would invite a retry that pays again. Exit 1 says what happened."""
    thread = new_thread()
    outcome = invoke(
        "record", "support", "--input", ticket_json(), "--thread", thread, "--db", db_url,
        "--answer", '{"type": "approve"}', "--out", str(tmp_path / "t.jsonl"),
    )  # fmt: skip
    line = assert_refused(outcome, "left over", thread, "kept", "completed", code=1)
    assert "nothing written" not in line.lower()
    assert count(db_url, "support_payments", thread) == 1
    assert not (tmp_path / "t.jsonl").exists()


def test_an_answer_that_does_not_fit_the_question_runs_nothing_on_it(
    db_url: str, tmp_path: Path
) -> None:
    """An escalation allows respond or reject; approve is refused before it is resumed."""
    thread = new_thread()
    outcome = invoke(
        "record", "support", "--input", ticket_json("unknown customer"), "--thread", thread,
        "--db", db_url, "--answer", '{"type": "approve"}', "--out", str(tmp_path / "t.jsonl"),
    )  # fmt: skip
    line = assert_refused(outcome, "does not fit", "escalate", "waiting", thread, code=1)
    assert "nothing written" not in line.lower()
    row = thread_row(db_url, thread)
    assert row is not None and row["status"] == "waiting"
    assert count(db_url, "support_payments", thread) == 0
    assert count(db_url, "support_outbox", thread) == 0


def test_a_good_recording_still_writes_its_trace(db_url: str, tmp_path: Path) -> None:
    """Control: the checks above refuse only what is wrong."""
    thread = new_thread()
    out = tmp_path / "t.jsonl"
    outcome = invoke(
        "record", "support", "--input", ticket_json("approval needed"), "--thread", thread,
        "--db", db_url, "--answer", '{"type": "edit", "args": {"amount": "50"}}',
        "--out", str(out),
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome.describe()
    assert out.exists()
    assert count(db_url, "support_payments", thread) == 1

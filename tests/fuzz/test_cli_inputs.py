"""Property tests over the command line's inputs: bad input never does harm.

Hypothesis generates near misses of good values (a misspelt key, a number one past its bound, a
decimal with an exponent) and junk (NUL characters, lone surrogates, huge strings, deep
nesting, wrong types, odd Unicode). Every case runs through the real app
(`waypoint.cli.app.app`, in this process with typer's `CliRunner`) against real databases, both
backends. The property: exit 2, exactly one `error:` line, no traceback, and nothing written
(no thread row, checkpoint, payment, outbox message or side-effect key; no file for a bad
database path). Runs are derandomized and bounded so the module stays well under a minute.
"""

from __future__ import annotations

import json
import string
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli_inprocess import CliOutcome, assert_refused, invoke
from tests.helpers import demo_input, footprint, query, run
from waypoint.runner import start_run

FUZZ = settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
"""Every property: the same examples each run, no example database written to the repo."""

TABLES = (
    "waypoint_threads",
    "checkpoints",
    "support_payments",
    "support_outbox",
    "waypoint_side_effects",
    "waypoint_kills",
)
TICKET = demo_input("auto refund")
TEXT_FIELDS = ("ticket_id", "customer_id", "message", "order_id")


def table_counts(db_url: str) -> dict[str, int]:
    """Rows in every table a command could write, in one query (no file or tables yet: 0s)."""
    found = query(
        db_url, "SELECT " + ", ".join(f"(SELECT count(*) FROM {t}) AS {t}" for t in TABLES)
    )
    return {table: int(found[0][table]) if found else 0 for table in TABLES}


def is_json_object(text: str) -> bool:
    """Whether `text` parses as a JSON object (an edit that might be a valid one)."""
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def refused_writing_nothing(db_url: str, *args: str) -> CliOutcome:
    """Run `waypoint ARGS --db DB`; it must be refused (exit 2, one line) and write nothing."""
    before = table_counts(db_url)
    outcome = invoke(*args, "--db", db_url)
    assert_refused(outcome)
    assert table_counts(db_url) == before, outcome.describe()
    return outcome


# --- strategies -------------------------------------------------------------------------------

NUL_TEXT = st.text(max_size=20).map(lambda s: s[: len(s) // 2] + "\x00" + s[len(s) // 2 :])
SURROGATE_TEXT = st.builds(
    lambda a, c, b: f"{a}{chr(c)}{b}",
    st.text(max_size=5),
    st.integers(0xD800, 0xDFFF),
    st.text(max_size=5),
)
CONTROL_TEXT = st.builds(
    lambda a, c, b: f"{a}{c}{b}",
    st.text(string.ascii_letters, max_size=5),
    st.sampled_from(["\x00", "\n", "\t", "\x1b", "\x7f", "\u200b", "\u202e", "\u2028", "\ufeff"]),
    st.text(string.ascii_letters, max_size=5),
)
NOT_TEXT = st.one_of(
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10))


def deeply_nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def bad_text_for(field: str) -> st.SearchStrategy[Any]:
    """Values the ticket's text field refuses (`order_id` may be empty or null: not those)."""
    limit = 10_000 if field == "message" else 64
    options: list[st.SearchStrategy[Any]] = [NOT_TEXT, NUL_TEXT, SURROGATE_TEXT]
    options.append(st.just("x" * (limit + 1)))
    if field != "order_id":
        options += [st.just(""), st.just(" \t\n "), st.none()]
    return st.one_of(*options)


@st.composite
def bad_ticket_json(draw: st.DrawFn) -> str:
    """A near miss of a good ticket, or junk, as the text `--input` receives."""
    kind = draw(st.sampled_from(["field", "missing", "misspelt", "extra", "shape", "deep", "text"]))
    ticket: dict[str, Any] = dict(TICKET)
    if kind == "field":
        field = draw(st.sampled_from(TEXT_FIELDS))
        ticket[field] = draw(bad_text_for(field))
    elif kind == "missing":
        del ticket[draw(st.sampled_from(["ticket_id", "customer_id", "message"]))]
    elif kind == "misspelt":
        field = draw(st.sampled_from(["ticket_id", "customer_id", "message"]))
        ticket[field[:-1] + draw(st.sampled_from(["z", "_", "S"]))] = ticket.pop(field)
    elif kind == "extra":
        key = draw(st.text(min_size=1, max_size=30).filter(lambda k: k not in TEXT_FIELDS))
        ticket[key] = draw(JSON_SCALARS)
    elif kind == "shape":
        return json.dumps(draw(st.one_of(JSON_SCALARS, st.lists(JSON_SCALARS, max_size=3))))
    elif kind == "deep":
        return draw(st.integers(33, 3_000).map(deeply_nested))
    else:  # not JSON, or JSON with constants JSON does not have
        return draw(
            st.one_of(
                st.text(max_size=40).filter(lambda t: not t.strip().startswith(("{", "[", '"'))),
                st.just('{"message": NaN}'),
                st.just('{"message": Infinity}'),
                st.just('{"ticket_id": ' + "9" * 5_000 + "}"),
            )
        )
    return json.dumps(ticket)


@st.composite
def bad_context_json(draw: st.DrawFn) -> str:
    """A run context with at least one setting the support workflow refuses."""
    setting = draw(
        st.sampled_from(
            [
                ("approval_threshold", st.one_of(st.integers(max_value=-1), st.just("lots"))),
                (
                    "classification_threshold",
                    st.one_of(
                        st.floats(min_value=1.0001, max_value=1e9), st.floats(max_value=-0.001)
                    ),
                ),
                (
                    "max_draft_revisions",
                    st.one_of(st.integers(min_value=11), st.integers(max_value=-1), st.just(1.5)),
                ),
                ("model", st.one_of(st.just("nosuch:thing"), st.just("abc"), NUL_TEXT, NOT_TEXT)),
                ("budgets", st.one_of(NOT_TEXT, st.just({"stepz": 1}), st.just({"steps": -1}))),
                (
                    draw(st.sampled_from(["aproval_threshold", "temperature", "Model", "x\x00"])),
                    JSON_SCALARS,
                ),
            ]
        )
    )
    name, values = setting
    return json.dumps({name: draw(values)})


BAD_AMOUNTS = st.one_of(
    st.sampled_from(
        ["1_0", "1e3", "1E2", "NaN", "Infinity", "-Infinity", "0x10", " 5", "5.", "-5"]
    ),
    st.sampled_from(["0", "0.00", "480.01", "1" * 40, "\u0661\u0660", "10,5", ""]),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)


@st.composite
def bad_decision(draw: st.DrawFn) -> list[str]:
    """Arguments after `waypoint resume THREAD` that the waiting approval must refuse."""
    kind = draw(st.sampled_from(["edit", "edit-json", "respond", "reject", "combo", "reason"]))
    if kind == "edit":
        key = draw(st.sampled_from(["amount", "reply", "discount", "Amount"]))
        value = draw(BAD_AMOUNTS) if key == "amount" else draw(st.one_of(NUL_TEXT, NOT_TEXT))
        if key == "reply" and value == "":
            value = " "
        return ["--edit", json.dumps({key: value})]
    if kind == "edit-json":
        text = st.one_of(st.text(max_size=20), st.integers(33, 500).map(deeply_nested))
        return ["--edit", draw(text.filter(lambda t: not is_json_object(t)))]
    if kind == "respond":
        return ["--respond", draw(st.one_of(st.just(""), st.just("  \n"), NUL_TEXT))]
    if kind == "reject":
        return ["--reject", "--reason", draw(st.one_of(NUL_TEXT, SURROGATE_TEXT))]
    if kind == "combo":
        return draw(st.sampled_from([["--approve", "--reject"], ["--respond", "x", "--approve"]]))
    return ["--approve", "--reason", draw(st.text(min_size=1, max_size=10))]


BAD_THREAD_IDS = st.one_of(
    CONTROL_TEXT,
    st.text(min_size=129, max_size=3_000),
    st.text(" \t\u00a0\u3000", min_size=0, max_size=5),
    st.builds(lambda s: f" {s}", st.text(string.ascii_letters, min_size=1, max_size=5)),
).filter(lambda t: not t.startswith("-"))  # `-x` is an option to any command line


# --- properties -------------------------------------------------------------------------------


@FUZZ
@given(raw=bad_ticket_json())
def test_bad_run_input(db_url: str, raw: str) -> None:
    refused_writing_nothing(db_url, "run", "support", "--input", raw)


@FUZZ
@given(context=bad_context_json())
def test_bad_run_context(db_url: str, context: str) -> None:
    ticket = json.dumps(TICKET)
    refused_writing_nothing(db_url, "run", "support", "--input", ticket, "--context", context)


@pytest.fixture
def waiting_thread(db_url: str) -> str:
    """A support thread waiting at its approval (a refund of 480.00 waits for a human)."""
    thread = f"fz-{uuid.uuid4().hex[:12]}"
    report = run(
        start_run("support", demo_input("approval needed"), thread_id=thread, db_url=db_url)
    )
    assert report.status == "waiting"
    return thread


@FUZZ
@given(decision=bad_decision())
def test_bad_decisions_leave_the_thread_waiting(
    db_url: str, waiting_thread: str, decision: list[str]
) -> None:
    before = footprint(db_url, waiting_thread)
    refused_writing_nothing(db_url, "resume", waiting_thread, *decision)
    assert footprint(db_url, waiting_thread) == before


@FUZZ
@given(
    thread=BAD_THREAD_IDS,
    command=st.sampled_from(
        [
            ["status", "{t}"],
            ["resume", "{t}", "--approve"],
            ["history", "{t}"],
            ["show", "{t}"],
            ["audit", "{t}"],
            ["kill", "{t}", "--reason", "stop"],
            ["prune", "--thread", "{t}"],
            ["run", "support", "--input", json.dumps(TICKET), "--thread", "{t}"],
        ]
    ),
)
def test_bad_thread_ids(db_url: str, thread: str, command: list[str]) -> None:
    outcome = refused_writing_nothing(db_url, *(a.replace("{t}", thread) for a in command))
    assert "thread:" in outcome.stderr


@FUZZ
@given(
    args=st.one_of(
        st.tuples(
            st.sampled_from([["threads", "--limit"], ["history", "t-1", "--limit"]]),
            st.one_of(
                st.integers(min_value=1_000_001).map(str),
                st.integers(max_value=0).map(str),
                st.floats(allow_nan=True)
                .filter(lambda f: not (f.is_integer() and 1 <= f <= 1_000_000))
                .map(repr),
                st.text(string.ascii_letters + "_.", min_size=1, max_size=6),
            ),
        ),
        st.tuples(
            st.sampled_from([["kpis", "--since"], ["prune", "--older-than"]]),
            st.one_of(
                st.integers(min_value=36_601).map(lambda n: f"{n}d"),
                st.integers(min_value=5_300).map(lambda n: f"{n}w"),
                st.integers(min_value=10**13).map(lambda n: f"{n}s"),
                st.text(max_size=8).filter(
                    lambda t: not (t.strip()[:-1].isdigit() and t.strip()[-1:] in "smhdw")
                ),
            ),
        ),
        st.tuples(
            st.just(["prune", "--keep-last"]),
            st.one_of(
                st.integers(max_value=0).map(str),
                st.integers(min_value=1_000_001).map(str),
                st.sampled_from(["1.5", "1e3", "one", "0.5"]),
            ),
        ),
    )
)
def test_bad_numbers(db_url: str, args: tuple[list[str], str]) -> None:
    command, value = args
    refused_writing_nothing(db_url, *command, value)


@FUZZ
@given(
    url=st.one_of(
        st.builds(
            lambda user, tail: f"postgresql://{user}%{tail}@localhost/db",
            st.text(string.ascii_letters, max_size=5),
            st.text("GHIJKLMNOPQRSTUVWXYZ%", min_size=1, max_size=3),
        ),
        st.builds(
            lambda key: f"postgresql://u@localhost/db?x_{key}=1",
            st.text(string.ascii_lowercase, min_size=1, max_size=8),
        ),
        st.builds(lambda s: f"postgresql://a b{s}@h/d", st.text(string.ascii_letters, max_size=4)),
        st.builds(lambda s: f"postgresql://u@h/{s}", NUL_TEXT),
        st.sampled_from(["mysql://h/d", "sqlite://x.db", "sqlite:///", "", " ", "postgresql"]),
        st.text(max_size=30).filter(
            lambda t: not t.startswith(("sqlite:///", "postgresql://", "postgres://"))
        ),
    )
)
def test_bad_postgres_and_other_urls_are_refused_at_once(url: str) -> None:
    outcome = invoke("threads", "--db", url, env={"WAYPOINT_DB_URL": "sqlite:////dev/null/x"})
    assert_refused(outcome, "db:")


@FUZZ
@given(
    kind=st.sampled_from(["folder", "not-sqlite", "under-a-file", "nul"]),
    content=st.binary(min_size=1, max_size=64).filter(lambda b: not b.startswith(b"SQLite")),
    name=st.text(string.ascii_letters + string.digits + "-_.", min_size=1, max_size=12).filter(
        lambda n: n not in (".", "..")
    ),
)
def test_bad_sqlite_paths_create_nothing(
    tmp_path: Path, kind: str, content: bytes, name: str
) -> None:
    place = tmp_path / uuid.uuid4().hex
    place.mkdir()
    if kind == "folder":
        (place / name).mkdir()
        url = f"sqlite:///{place / name}"
    elif kind == "not-sqlite":
        (place / name).write_bytes(content)
        url = f"sqlite:///{place / name}"
    elif kind == "under-a-file":
        (place / name).write_bytes(content)
        url = f"sqlite:///{place / name / 'sub' / 'w.sqlite'}"
    else:
        url = f"sqlite:///{place / name}\x00.sqlite"
    before = sorted(str(p) for p in place.rglob("*"))
    outcome = invoke("run", "support", "--input", json.dumps(TICKET), "--db", url)
    assert_refused(outcome, "db:")
    assert sorted(str(p) for p in place.rglob("*")) == before, outcome.describe()

"""Checkpoints named as `history` shows them: a step number, a unique id prefix, `…TAIL`.

Every command that takes a checkpoint (`show --checkpoint`, `diff A B`, `replay --from`,
`fork --from`) accepts each form; an unknown or ambiguous name is exit 2 naming `checkpoint`,
and writes nothing. Each command runs in a real process at least once; the matrix of names
runs the same app in this process (`tests.cli_inprocess`), as a subprocess per name would cost
a minute of imports.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.cli_inprocess import assert_refused, invoke
from tests.conftest import waypoint_cli
from tests.helpers import demo_input, footprint


def cli(db: str, *args: str, code: int = 0, as_json: bool = True) -> Any:
    """`waypoint ARGS --db DB` in a real process."""
    done = waypoint_cli(*args, "--db", db, *(["--json"] if as_json else []))
    assert done.returncode == code, (args, done.stdout, done.stderr)
    return json.loads(done.stdout) if as_json and code in (0, 3) else done


def same_app(db: str, *args: str) -> Any:
    """`waypoint ARGS --db DB --json`, the same app run in this process."""
    done = invoke(*args, "--db", db, "--json")
    assert done.exit_code == 0, done.describe()
    return json.loads(done.stdout)


def _waiting(db: str) -> tuple[str, list[dict[str, Any]]]:
    thread = f"cli-names-{uuid.uuid4().hex[:10]}"
    cli(db, "run", "support", "--input", json.dumps(demo_input("approval needed")),
        "--thread", thread, code=3)  # fmt: skip
    return thread, cli(db, "history", thread)["checkpoints"]


def _unique_prefix(ids: list[str], chosen: str) -> str:
    for size in range(1, len(chosen) + 1):
        if sum(other.startswith(chosen[:size]) for other in ids) == 1:
            return chosen[:size]
    raise AssertionError("ids are unique")


def test_show_and_diff_take_a_step_a_prefix_or_a_tail(db_url: str) -> None:
    thread, rows = _waiting(db_url)
    ids = [row["checkpoint_id"] for row in rows]
    for row in (rows[0], rows[len(rows) // 2], rows[-1]):
        step, wanted = str(row["step"]), row["checkpoint_id"]
        for name in (step, _unique_prefix(ids, wanted), "…" + wanted[-8:], wanted):
            shown = same_app(db_url, "show", thread, "--checkpoint", name)
            assert shown["checkpoint_id"] == wanted, name
    middle = rows[len(rows) // 2]["checkpoint_id"]
    shown = cli(db_url, "show", thread, "--checkpoint", "…" + middle[-8:])
    assert shown["checkpoint_id"] == middle
    diff = cli(db_url, "diff", thread, "0", str(rows[0]["step"]))
    assert (diff["from"]["checkpoint_id"], diff["to"]["checkpoint_id"]) == (ids[-2], ids[0])


def _refused(db: str, thread: str, *args: str, process: bool = False) -> str:
    before = footprint(db, thread)
    if process:
        done = cli(db, *args, code=2, as_json=False)
        [line] = done.stderr.strip().splitlines()
    else:
        line = assert_refused(invoke(*args, "--db", db), "checkpoint")
    assert footprint(db, thread) == before  # nothing written
    assert line.startswith("error: checkpoint:"), line
    return str(line)


def test_unknown_and_ambiguous_names_are_exit_2_naming_checkpoint(sqlite_url: str) -> None:
    db = sqlite_url
    thread, rows = _waiting(db)
    ids = [row["checkpoint_id"] for row in rows]
    shared = ""
    while all(other.startswith(ids[0][: len(shared) + 1]) for other in ids):
        shared = ids[0][: len(shared) + 1]
    assert shared  # uuid6 ids of one thread share their time prefix
    update = ("--update", '{"order_id": "O-1"}')
    for args in (
        ("show", thread, "--checkpoint", shared),
        ("diff", thread, shared, "0"),
        ("replay", thread, "--from", shared),
        ("fork", thread, "--from", shared, *update),
    ):
        assert "ambiguous" in _refused(db, thread, *args)
    for name in ("99", "zzzz", "…zzzz"):
        for args in (
            ("show", thread, "--checkpoint", name),
            ("replay", thread, "--from", name),
            ("fork", thread, "--from", name, *update),
        ):
            assert "no checkpoint" in _refused(db, thread, *args)
    assert "ambiguous" in _refused(db, thread, "replay", thread, "--from", shared, process=True)
    assert "no checkpoint" in _refused(db, thread, "fork", thread, "--from", "99", *update,
                                       process=True)  # fmt: skip


def test_replay_and_fork_from_a_step_then_a_step_means_the_current_line(sqlite_url: str) -> None:
    db = sqlite_url
    thread, rows = _waiting(db)
    assert cli(db, "resume", thread, "--approve")["status"] == "completed"
    [before_approval] = [r for r in rows if r["next"] == ["approval"]]
    replayed = cli(
        db, "replay", thread, "--from", str(before_approval["step"]), "--allow-effects", code=3
    )
    assert replayed["interrupts"][0]["node"] == "approval"
    history = cli(db, "history", thread)["checkpoints"]
    steps = [r["step"] for r in history]
    repeated = {step for step in steps if steps.count(step) > 1}
    assert repeated  # the replay's branch reached these steps again
    for step in repeated:
        on_line = [r for r in history if r["step"] == step and r["on_head_line"]]
        if len(on_line) == 1:
            shown = cli(db, "show", thread, "--checkpoint", str(step))
            assert shown["checkpoint_id"] == on_line[0]["checkpoint_id"]

    [before_lookup] = [r for r in history if r["next"] == ["lookup"] and r["on_head_line"]]
    forked = cli(db, "fork", thread, "--from", str(before_lookup["step"]),
                 "--update", '{"order_id": "O-1"}', "--allow-effects")  # fmt: skip
    assert forked["forked_from"] == before_lookup["checkpoint_id"]
    assert forked["next"] == ["lookup"]

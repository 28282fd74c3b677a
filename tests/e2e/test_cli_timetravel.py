"""Time travel through the real `waypoint` command, each step in its own process.

`history`, `show` and `diff` read (exit 0); `replay` exits like `run` (3 when a human is asked
again); `fork` exits 0 with the new checkpoint, or 2 writing nothing on a bad edit.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

from tests.conftest import waypoint_cli
from tests.helpers import demo_input, footprint

APPROVAL = demo_input("approval needed")  # C-200, O-2, 480.00: waits at approval


def cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return waypoint_cli(*args, "--db", db_url)


def cli_json(db_url: str, *args: str, code: int = 0) -> Any:
    done = cli(db_url, *args, "--json")
    assert done.returncode == code, (args, done.stdout, done.stderr)
    return json.loads(done.stdout)


def run_waiting(db_url: str) -> str:
    thread = f"cli-tt-{uuid.uuid4().hex[:10]}"
    report = cli_json(
        db_url, "run", "support", "--input", json.dumps(APPROVAL), "--thread", thread, code=3
    )
    assert report["status"] == "waiting"
    return thread


def checkpoint_before(history: dict[str, Any], node: str) -> str:
    [row] = [r for r in history["checkpoints"] if r["next"] == [node] and r["on_head_line"]]
    return str(row["checkpoint_id"])


def test_history_show_diff_and_replay(db_url: str) -> None:
    thread = run_waiting(db_url)
    assert cli_json(db_url, "resume", thread, "--approve")["status"] == "completed"

    history = cli_json(db_url, "history", thread)
    rows = history["checkpoints"]
    assert (history["total"], len(rows)) == (11, 11)
    assert [r["source"] for r in rows] == ["loop"] * 10 + ["input"]
    assert rows[0]["next"] == [] and rows[0]["writers"] == ["execute"]
    first, last = rows[-1]["checkpoint_id"], rows[0]["checkpoint_id"]

    table = cli(db_url, "history", thread, "--limit", "2")
    assert table.returncode == 0, table.stderr
    assert last in table.stdout and first not in table.stdout
    assert "9 older checkpoint(s) not shown" in table.stdout

    before_lookup = checkpoint_before(history, "lookup")
    shown = cli_json(db_url, "show", thread, "--checkpoint", before_lookup)
    assert shown["checkpoint_id"] == before_lookup
    assert shown["values"]["classification"]["category"] == "refund"
    assert "lookup" not in shown["values"]

    diff = cli_json(db_url, "diff", thread, first, last)
    paths = {c["path"]: c for c in diff["changes"]}
    assert paths["review_verdicts[0].passed"] == {
        "path": "review_verdicts[0].passed",
        "change": "added",
        "before": None,
        "after": True,
    }
    assert paths["resolution.kind"]["after"] == "refunded"

    before_approval = checkpoint_before(history, "approval")
    untouched = footprint(db_url, thread)
    refused = cli(db_url, "replay", thread, "--from", before_approval)
    assert refused.returncode == 2, refused.stderr
    assert "allow-effects:" in refused.stderr
    assert "support.payment at execute (performed before" in refused.stderr
    assert footprint(db_url, thread) == untouched
    replayed = cli(db_url, "replay", thread, "--from", before_approval, "--allow-effects")
    assert replayed.returncode == 3, replayed.stderr
    assert "may act  support.payment at execute" in replayed.stdout
    assert "waiting at approval" in replayed.stdout
    assert cli_json(db_url, "status", thread, code=3)["interrupts"][0]["node"] == "approval"


def test_fork_a_bad_edit_then_a_good_one_and_resume(sqlite_url: str) -> None:
    db_url = sqlite_url  # the runner-level tests cover both backends
    thread = run_waiting(db_url)
    before_lookup = checkpoint_before(cli_json(db_url, "history", thread), "lookup")
    untouched = footprint(db_url, thread)

    bad = cli(db_url, "fork", thread, "--from", before_lookup, "--update", '{"order_idx": "O-1"}')
    assert bad.returncode == 2
    assert "order_idx" in bad.stderr and "not a field" in bad.stderr
    assert footprint(db_url, thread) == untouched

    edit = '{"order_id": "O-1"}'
    unallowed = cli(db_url, "fork", thread, "--from", before_lookup, "--update", edit)
    assert unallowed.returncode == 2, unallowed.stderr
    assert "allow-effects: this fork" in unallowed.stderr
    assert "support.payment at execute; support.reply at execute" in unallowed.stderr
    assert footprint(db_url, thread) == untouched

    forked = cli_json(
        db_url, "fork", thread, "--from", before_lookup, "--update", edit, "--allow-effects"
    )
    assert (forked["forked_from"], forked["next"]) == (before_lookup, ["lookup"])
    assert {(e["node"], e["kind"], e["performed_before"]) for e in forked["effects"]} == {
        ("execute", "support.payment", False),
        ("execute", "support.reply", False),
    }
    assert forked["as_node"] == "classification_gate"

    resumed = cli_json(db_url, "resume", thread, code=3)
    assert resumed["interrupts"][0]["node"] == "escalate"
    assert resumed["values"]["order_id"] == "O-1"

    history = cli_json(db_url, "history", thread)
    assert history["checkpoints"][0]["parent_checkpoint_id"] == forked["checkpoint_id"]
    fork_row = next(r for r in history["checkpoints"] if r["source"] == "update")
    assert fork_row["checkpoint_id"] == forked["checkpoint_id"] and fork_row["branch_start"]
    table = cli(db_url, "history", thread)
    assert "new branch" in table.stdout and "branch point (2 children)" in table.stdout
    assert forked["checkpoint_id"] in table.stdout


def test_unknown_checkpoints_and_missing_options_exit_2(sqlite_url: str) -> None:
    thread = run_waiting(sqlite_url)
    untouched = footprint(sqlite_url, thread)

    for args in (
        ("show", thread, "--checkpoint", "no-such-checkpoint"),
        ("replay", thread, "--from", "no-such-checkpoint"),
        ("fork", thread, "--from", "no-such-checkpoint", "--update", '{"order_id": "O-1"}'),
    ):
        done = cli(sqlite_url, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert "checkpoint: no checkpoint 'no-such-checkpoint'" in done.stderr

    usage = cli(sqlite_url, "fork", thread, "--update", "{}")  # no --from
    assert usage.returncode == 2 and "--from" in usage.stderr
    assert footprint(sqlite_url, thread) == untouched

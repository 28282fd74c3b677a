"""Time travel names the side effects it may perform, on a plain graph that declares one.

`tests/kit/graphs/plain.py` declares `plain.notice` on its `second` node in LangGraph's own
node metadata. A replay or fork whose path may reach `second` lists it and writes nothing
unless the caller passes `--allow-effects`; one whose path cannot reach it needs no permission.
"""

from __future__ import annotations

import json
import uuid

from tests.conftest import waypoint_cli
from tests.helpers import footprint


def _history(thread: str, db: str) -> list[dict[str, object]]:
    listed = waypoint_cli("history", thread, "--db", db, "--json")
    assert listed.returncode == 0, listed.stderr
    rows: list[dict[str, object]] = json.loads(listed.stdout)["checkpoints"]
    return rows


def test_a_replay_that_may_reach_an_effect_needs_permission(sqlite_url: str) -> None:
    thread = f"plain-{uuid.uuid4().hex[:8]}"
    started = waypoint_cli(
        "run", "plain", "--input", '{"steps": ["ask", "ok"]}', "--thread", thread,
        "--db", sqlite_url,
    )  # fmt: skip
    assert started.returncode == 3, started.stderr
    before_first = next(r for r in _history(thread, sqlite_url) if r["next"] == ["first"])
    untouched = footprint(sqlite_url, thread)

    refused = waypoint_cli(
        "replay", thread, "--from", str(before_first["checkpoint_id"]), "--db", sqlite_url
    )
    assert refused.returncode == 2, refused.stderr
    assert "allow-effects:" in refused.stderr and "plain.notice at second" in refused.stderr
    assert footprint(sqlite_url, thread) == untouched

    allowed = waypoint_cli(
        "replay", thread, "--from", str(before_first["checkpoint_id"]), "--allow-effects",
        "--db", sqlite_url, "--json",
    )  # fmt: skip
    assert allowed.returncode == 3, allowed.stderr  # `first` asks again
    report = json.loads(allowed.stdout)
    assert report["planned_effects"] == [
        {"node": "second", "kind": "plain.notice", "performed_before": False}
    ]


def test_a_fork_past_the_effect_needs_no_permission(sqlite_url: str) -> None:
    thread = f"plain-{uuid.uuid4().hex[:8]}"
    done = waypoint_cli(
        "run", "plain", "--input", '{"steps": ["ok", "ok"]}', "--thread", thread,
        "--db", sqlite_url,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    after_second = _history(thread, sqlite_url)[0]
    forked = waypoint_cli(
        "fork", thread, "--from", str(after_second["checkpoint_id"]),
        "--update", '{"steps": ["ok"]}', "--as-node", "second", "--db", sqlite_url, "--json",
    )  # fmt: skip
    assert forked.returncode == 0, forked.stderr
    assert json.loads(forked.stdout)["effects"] == []

"""Subgraphs under the kit: a compiled graph as a node, and a graph invoked inside a node.

Their inner nodes have ledger rows committed to the subgraph's own checkpoints (saved under the
namespace `NODE:TASK_ID`); `history --subgraphs` lists those checkpoints and `show` reads them;
`replay` and `fork` from one are refused with exit 2, naming the field `checkpoint`.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.conftest import waypoint_cli
from tests.helpers import query, run
from waypoint.ledger import reconcile
from waypoint.persistence.stores import open_stores
from waypoint.runner import start_run

SHAPES = ["subgraph_node", "subgraph_call"]


def _thread() -> str:
    return f"sub-{uuid.uuid4().hex[:8]}"


def _rows(db_url: str, thread: str) -> list[dict[str, Any]]:
    return query(
        db_url,
        "SELECT step, node, attempt, status, task_id, checkpoint_ns, checkpoint_id "
        "FROM waypoint_ledger WHERE thread_id = ? ORDER BY started_at",
        (thread,),
    )


def _history(thread: str, db_url: str) -> list[dict[str, Any]]:
    listed = waypoint_cli("history", thread, "--subgraphs", "--db", db_url, "--json")
    assert listed.returncode == 0, listed.stderr
    checkpoints: list[dict[str, Any]] = json.loads(listed.stdout)["checkpoints"]
    return checkpoints


@pytest.mark.parametrize("graph", SHAPES)
def test_inner_rows_are_committed_to_the_subgraphs_checkpoints(db_url: str, graph: str) -> None:
    thread = _thread()
    done = run(start_run(graph, {}, thread_id=thread, db_url=db_url))
    assert done.status == "completed"
    assert done.values["trail"] == ["before", "inner_a", "inner_b", "after"]
    rows = _rows(db_url, thread)
    assert [r["node"] for r in rows] == ["before", "sub", "inner_a", "inner_b", "after"]
    assert {r["status"] for r in rows} == {"committed"}
    inner = [r for r in rows if r["node"].startswith("inner")]
    sub = next(r for r in rows if r["node"] == "sub")
    assert {r["checkpoint_ns"] for r in inner} == {f"sub:{sub['task_id']}"}
    assert [r["step"] for r in inner] == [1, 2]  # the subgraph's own steps
    # each inner row names the subgraph checkpoint of its step, as history lists it
    listed = {c["checkpoint_id"]: c for c in _history(thread, db_url)}
    for row in inner:
        saved = listed[row["checkpoint_id"]]
        assert (saved["checkpoint_ns"], saved["step"]) == (row["checkpoint_ns"], row["step"])


def test_reconcile_settles_inner_rows_by_their_namespace(db_url: str) -> None:
    """After a crash rows are settled from the checkpoints: a subgraph's by its own."""
    thread = _thread()
    run(start_run("subgraph_node", {}, thread_id=thread, db_url=db_url))
    before = {(r["node"], r["checkpoint_id"]) for r in _rows(db_url, thread)}

    async def unsettle_and_reconcile() -> None:
        async with open_stores(db_url) as stores:
            await stores.db.execute(
                "UPDATE waypoint_ledger SET status = 'returned', checkpoint_id = NULL "
                "WHERE thread_id = :t",
                {"t": thread},
            )
            await reconcile(stores, thread)

    run(unsettle_and_reconcile())
    after = _rows(db_url, thread)
    assert {r["status"] for r in after} == {"committed"}
    assert {(r["node"], r["checkpoint_id"]) for r in after} == before


@pytest.mark.parametrize("graph", SHAPES)
def test_history_show_and_time_travel_with_subgraph_checkpoints(
    sqlite_url: str, graph: str
) -> None:
    thread = _thread()
    started = waypoint_cli("run", graph, "--input", "{}", "--thread", thread, "--db", sqlite_url)
    assert started.returncode == 0, started.stderr

    plain = waypoint_cli("history", thread, "--db", sqlite_url, "--json")
    own = json.loads(plain.stdout)["checkpoints"]
    assert {c["checkpoint_ns"] for c in own} == {""}
    every = _history(thread, sqlite_url)
    nested = [c for c in every if c["checkpoint_ns"]]
    assert nested and len(every) == len(own) + len(nested)
    assert {c["checkpoint_ns"].split(":")[0] for c in nested} == {"sub"}

    last_inner = max(nested, key=lambda c: c["step"])
    shown = waypoint_cli(
        "show", thread, "--checkpoint", last_inner["checkpoint_id"], "--db", sqlite_url, "--json"
    )
    assert shown.returncode == 0, shown.stderr
    view = json.loads(shown.stdout)
    assert view["checkpoint_ns"] == last_inner["checkpoint_ns"]
    assert view["values"]["trail"] == ["before", "inner_a", "inner_b"]

    first_inner = min(nested, key=lambda c: c["step"])["checkpoint_id"]
    for command in (
        ["replay", thread, "--from", first_inner],
        ["fork", thread, "--from", first_inner, "--update", '{"trail": []}'],
        ["diff", thread, own[-1]["checkpoint_id"], first_inner],
    ):
        refused = waypoint_cli(*command, "--db", sqlite_url)
        assert refused.returncode == 2, refused.stderr
        assert "checkpoint:" in refused.stderr and "subgraph" in refused.stderr
        assert "Traceback" not in refused.stderr

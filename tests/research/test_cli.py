"""`research` through the real command line, in new processes, on both backends.

`run --stream` prints tokens as they come; `history --subgraphs`, `show`, `diff`, `fork`,
`audit` and `kpis` see inside the research tasks' subgraphs; bad input is exit 2 and writes
nothing.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.conftest import waypoint_cli
from tests.helpers import run, sqlite_path
from waypoint.errors import BadInput
from waypoint.runner import start_run

QUESTION = json.dumps({"question": "How do json.dumps and pickle.dumps differ?"})
NO_MEMORY = json.dumps({"use_memory": False})


def _thread() -> str:
    return f"research-cli-{uuid.uuid4().hex[:8]}"


def _json(*args: str) -> Any:
    done = waypoint_cli(*args, "--json")
    assert done.returncode in (0, 3), done.stdout + done.stderr
    return json.loads(done.stdout)


def test_run_stream_prints_tokens_then_the_result(db_url: str) -> None:
    thread = _thread()
    ran = waypoint_cli(
        "run", "research", "--input", QUESTION, "--context", NO_MEMORY,
        "--thread", thread, "--db", db_url, "--stream",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    out = ran.stdout
    assert "[synthesise] # How do json.dumps and pickle.dumps differ?" in out
    assert "/agent] FINDINGS" in out  # the research tasks' answers, named by task
    assert out.index("[synthesise]") < out.index("status")  # tokens first, then the result
    # the tokens are the brief the thread keeps
    brief = _json("status", thread, "--db", db_url)["values"]["brief"]["text"]
    assert brief.splitlines()[2] in out


def test_stream_with_json_keeps_stdout_json(sqlite_url: str) -> None:
    ran = waypoint_cli(
        "run", "research", "--input", QUESTION, "--context", NO_MEMORY,
        "--db", sqlite_url, "--stream", "--json",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["status"] == "completed"
    assert "[synthesise] # How do" in ran.stderr


def test_time_travel_and_audit_inside_the_subgraphs(own_db_url: str) -> None:
    """Its `kpis` read the whole database, so no other test's threads may be in it."""
    db_url, thread = own_db_url, _thread()
    waypoint_cli(
        "run", "research", "--input", QUESTION, "--context", NO_MEMORY,
        "--thread", thread, "--db", db_url,
    )  # fmt: skip
    every = _json("history", thread, "--subgraphs", "--db", db_url)["checkpoints"]
    nested = [c for c in every if c["checkpoint_ns"]]
    namespaces = {c["checkpoint_ns"] for c in nested}
    assert len(namespaces) == 3 and all(ns.startswith("research:") for ns in namespaces)

    task = [c for c in nested if c["checkpoint_ns"] == min(namespaces)]
    first, last = min(task, key=lambda c: c["step"]), max(task, key=lambda c: c["step"])
    shown = _json("show", thread, "--checkpoint", last["checkpoint_id"], "--db", db_url)
    assert shown["checkpoint_ns"] == last["checkpoint_ns"]
    assert shown["values"]["findings"][0]["status"] == "answered"
    changed = _json("diff", thread, first["checkpoint_id"], last["checkpoint_id"], "--db", db_url)
    fields = {c["path"].split("[")[0].split(".")[0] for c in changed["changes"]}
    assert {"messages", "findings", "retrieved", "tool_calls_used"} <= fields

    audit = _json("audit", thread, "--db", db_url)
    rows = audit["invocations"]
    nodes = [r["node"] for r in rows]
    assert nodes.count("agent") == 9 and nodes.count("tools") == 6
    assert {r["capability"] for r in rows if r["node"] == "tools"} == {
        "search_docs",
        "read_passage",
    }

    # fork from the brief's checkpoint with another question: the gate runs on the branch
    own = [c for c in every if not c["checkpoint_ns"]]
    written = next(c for c in own if c["writers"] == ["synthesise"])
    forked = waypoint_cli(
        "fork", thread, "--from", written["checkpoint_id"],
        "--update", json.dumps({"question": "Forked?"}), "--db", db_url,
    )  # fmt: skip
    assert forked.returncode == 0, forked.stderr
    resumed = _json("resume", thread, "--db", db_url)
    assert resumed["status"] == "completed" and resumed["values"]["question"] == "Forked?"

    kpis = _json("kpis", "--graph", "research", "--db", db_url)
    assert kpis["graph"] == "research" and kpis["completion_rate"] == 1.0
    assert kpis["latency_ms_by_node"]["agent"]["count"] >= 9  # the subgraphs' nodes count


def test_bad_input_names_the_field_and_writes_nothing(sqlite_url: str) -> None:
    for raw, field in (
        ({"question": "json?", "max_sub_questions": 9}, "max_sub_questions"),
        ({"question": ""}, "question"),
        ({"question": "What does json.dumps do?", "depth": 0}, "depth"),
        ({"question": "What does json.dumps do?", "colour": "red"}, "colour"),
    ):
        with pytest.raises(BadInput) as refused:
            run(start_run("research", raw, db_url=sqlite_url))
        assert refused.value.field is not None and field in str(refused.value)
    ran = waypoint_cli(
        "run", "research", "--input", json.dumps({"question": "json?", "depth": 9}),
        "--db", sqlite_url,
    )  # fmt: skip
    assert ran.returncode == 2 and ran.stderr.startswith("error: ") and "depth" in ran.stderr
    assert "Traceback" not in ran.stderr
    ran = waypoint_cli(
        "run", "research", "--input", QUESTION, "--context", '{"tool_call_budget": 99}',
        "--db", sqlite_url,
    )  # fmt: skip
    assert ran.returncode == 2 and "tool_call_budget" in ran.stderr
    assert not sqlite_path(sqlite_url).exists()  # nothing written, not even the database

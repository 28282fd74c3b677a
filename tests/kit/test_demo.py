"""`waypoint demo` serves any workflow: a plain graph's own demo cases, checked before running.

Each test writes a `langgraph.json` of its own (listing the kit's plain graph) and the demo cases
beside it, in `nodes/plain/demo_cases.json`, then runs the real command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import waypoint_cli
from tests.kit.conftest import KIT

PLAIN = KIT / "graphs" / "plain.py"


def _project(tmp_path: Path, demo: Any) -> dict[str, str]:
    """A langgraph.json serving the plain graph, with `demo` as its demo cases; the CLI's env."""
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {"plain": f"{PLAIN}:graph"}}))
    cases = tmp_path / "nodes" / "plain" / "demo_cases.json"
    cases.parent.mkdir(parents=True)
    cases.write_text(demo if isinstance(demo, str) else json.dumps(demo))
    return {"WAYPOINT_LANGGRAPH_JSON": str(config)}


def test_a_plain_graph_runs_its_own_demo_cases(tmp_path: Path) -> None:
    env = _project(
        tmp_path,
        {
            "cases": [
                {"case": "both steps", "input": {"steps": ["ok", "ok"]}, "expect": "completed"},
                {
                    "case": "asks first",
                    "input": {"steps": ["ask"]},
                    "expect": "waiting",
                    "answer": {"yes": True},
                },
            ]
        },
    )
    db = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    for _ in range(2):  # repeatable on the same database
        done = waypoint_cli("demo", "--db", db, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "both steps" in done.stdout and "asks first" in done.stdout
        assert "waiting at first" in done.stdout
        assert "ticket" not in done.stdout.lower()  # nothing of the support workflow


def _refused(tmp_path: Path, demo: Any) -> str:
    env = _project(tmp_path, demo)
    db = tmp_path / "demo.sqlite"
    done = waypoint_cli("demo", "--db", f"sqlite:///{db}", env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert not db.exists()  # checked before anything is written
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ")
    return line


def test_a_bad_expectation_names_the_field(tmp_path: Path) -> None:
    line = _refused(
        tmp_path, {"cases": [{"case": "x", "input": {"steps": []}, "expect": "finished"}]}
    )
    assert "demo_cases.json" in line
    assert "demo_cases.cases.0.expect" in line and "completed" in line


def test_an_unknown_key_is_named(tmp_path: Path) -> None:
    line = _refused(
        tmp_path, {"cases": [{"case": "x", "input": {}, "expect": "completed", "expcet": 1}]}
    )
    assert "demo_cases.cases.0.expcet: unknown field" in line


def test_an_input_the_graph_refuses_is_named(tmp_path: Path) -> None:
    line = _refused(
        tmp_path, {"cases": [{"case": "x", "input": {"stepz": []}, "expect": "completed"}]}
    )
    assert "demo_cases.cases.0.input.stepz: unknown field" in line


def test_an_answer_needs_a_waiting_case(tmp_path: Path) -> None:
    line = _refused(
        tmp_path,
        {"cases": [{"case": "x", "input": {}, "expect": "completed", "answer": {"a": 1}}]},
    )
    assert "demo_cases.cases.0" in line and "must expect 'waiting'" in line


def test_a_setup_that_is_not_there_is_named(tmp_path: Path) -> None:
    line = _refused(
        tmp_path,
        {"setup": "no_such_module:reset", "cases": []},
    )
    assert "demo_cases.setup" in line


def test_a_file_that_is_not_json_is_named(tmp_path: Path) -> None:
    line = _refused(tmp_path, "[{")
    assert "demo_cases" in line and "not valid JSON" in line

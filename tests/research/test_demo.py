"""`waypoint demo` runs the research cases (nodes/research/demo_cases.json) to their ends."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import PROJECT_ROOT, waypoint_cli

CASES = json.loads((PROJECT_ROOT / "nodes" / "research" / "demo_cases.json").read_text())


def test_the_demo_runs_every_research_case_twice_alike(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    for _ in range(2):  # the second run reuses the first one's findings from memory
        done = waypoint_cli("demo", "--db", db, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        for case in CASES["cases"]:
            assert case["case"] in done.stdout
    assert "from memory" in done.stdout and "rejected" in done.stdout

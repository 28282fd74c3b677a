"""A new workflow from one command, and a kit that does not need `support`.

Both work on a copy of the project (the files git knows, plus new ones not yet committed), as a
user would: `waypoint new NAME` there must give a workflow that runs, passes its own tests and
its eval suite, with lint and types clean; deleting `support` there must leave the kit's own
tests green.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.timeout(600)


def project_copy(target: Path) -> Path:
    """The project's files (tracked, and new ones not ignored) copied under `target`."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = PROJECT_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def in_copy(root: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a command in the copy, importing the copy's code (not this checkout's)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(root),
        "LANGGRAPH_STRICT_MSGPACK": "true",
        "WAYPOINT_DB_URL": f"sqlite:///{root / '.waypoint' / 'copy.sqlite'}",
    }
    env.pop("WAYPOINT_LANGGRAPH_JSON", None)
    env.pop("WAYPOINT_CONFIG", None)
    return subprocess.run(
        list(args), cwd=root, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def tool(name: str) -> str:
    """A tool of this virtual environment (ruff, mypy, pytest)."""
    return str(Path(sys.executable).with_name(name))


def test_waypoint_new_gives_a_workflow_that_runs_tests_and_evaluates(tmp_path: Path) -> None:
    root = project_copy(tmp_path / "project")
    made = in_copy(root, sys.executable, "-m", "waypoint", "new", "intake_desk")
    assert made.returncode == 0, made.stderr
    graphs = json.loads((root / "langgraph.json").read_text())["graphs"]
    assert graphs["intake_desk"]["path"] == "./waypoint/serving.py:intake_desk"
    generated = [
        "state/intake_desk.py",
        "nodes/intake_desk",
        "graphs/intake_desk.py",
        "tests/workflows/test_intake_desk.py",
    ]
    assert (root / "evals/intake_desk/traces/short-answer.jsonl").is_file()

    ran = in_copy(
        root,
        sys.executable,
        "-m",
        "waypoint",
        "run",
        "intake_desk",
        "--input",
        '{"request_id": "R-9", "text": "hello"}',
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    for mode in ("score", "replay"):
        evaluated = in_copy(
            root, sys.executable, "-m", "waypoint", "eval", "evals/intake_desk", "--mode", mode
        )
        assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    for check in (
        [tool("ruff"), "check", *generated],
        [tool("ruff"), "format", "--check", *generated],
        [tool("mypy"), "--strict", *generated],
    ):
        checked = in_copy(root, *check)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = in_copy(root, tool("pytest"), "-q", "-p", "no:cacheprovider", generated[-1])
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "4 passed" in tested.stdout  # two tests, both backends


@pytest.mark.parametrize("name", ["Bad-Name", "9lives", "class", "x" * 21, "support"])
def test_waypoint_new_refuses_a_bad_or_taken_name_writing_nothing(
    tmp_path: Path, name: str
) -> None:
    root = project_copy(tmp_path / "project")
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    refused = in_copy(root, sys.executable, "-m", "waypoint", "new", name)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.startswith("error: name:")
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


KIT_MODULES_RUN_WITHOUT_SUPPORT = (
    "plain_graph",
    "fanout",
    "subgraphs",
    "functional",
    "several_interrupts",
    "demo",
    "kpis_handoffs",
    "report",
)


def test_the_kit_tests_pass_with_support_deleted(tmp_path: Path) -> None:
    root = project_copy(tmp_path / "project")
    for path in ("state/support.py", "graphs/support.py", "nodes/support", "evals/support"):
        target = root / path
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    config = json.loads((root / "langgraph.json").read_text())
    del config["graphs"]["support"]
    (root / "langgraph.json").write_text(json.dumps(config, indent=2))
    (root / "waypoint.toml").write_text("# support deleted: no capabilities to route\n")
    assert not list((root / "waypoint").rglob("*support*"))
    # Every kit test module must still import and collect; the modules that cover each kind of
    # kit behaviour (plain graphs, fan-out, subgraphs, the functional API, several interrupts,
    # demo, KPIs, report, the public API) then run, on SQLite. The rest of the kit's modules run
    # in the suite itself: re-running all of them here cost five minutes of CI time.
    collected = in_copy(root, tool("pytest"), "-q", "--co", "-p", "no:cacheprovider", "tests/kit",
                        timeout=300)  # fmt: skip
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-2000:]
    every_module = {line.split("::")[0] for line in collected.stdout.splitlines() if "::" in line}
    assert every_module == {
        str(path.relative_to(root)) for path in (root / "tests/kit").glob("test_*.py")
    }
    tested = in_copy(
        root,
        tool("pytest"),
        "-q",
        "-n",
        "2",
        "-p",
        "no:cacheprovider",
        *(f"tests/kit/test_{name}.py" for name in KIT_MODULES_RUN_WITHOUT_SUPPORT),
        "tests/unit/test_public_api.py",
        "-k",
        "not postgres",
        timeout=600,
    )
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-2000:]
    assert " passed" in tested.stdout and "failed" not in tested.stdout

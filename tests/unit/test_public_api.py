"""Workflow code imports the kit's public names only; the public API is documented and cheap."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import waypoint

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_FOLDERS = ("graphs", "nodes", "state", "tests/kit/graphs")


def _workflow_files() -> list[Path]:
    return [p for folder in WORKFLOW_FOLDERS for p in sorted((PROJECT_ROOT / folder).rglob("*.py"))]


def kit_imports(path: Path) -> list[tuple[int, str]]:
    """Every import of the kit in a file: (line, what): `waypoint.ladder`, `waypoint:add_node`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.split(".")[0] == "waypoint"
        ):
            for alias in node.names:
                found.append((node.lineno, f"{node.module}:{alias.name}"))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "waypoint":
                    found.append((node.lineno, alias.name))
    return found


def private_imports(path: Path) -> list[str]:
    """The kit imports of a file that are not `from waypoint import PUBLIC_NAME`."""
    return [
        f"{path.relative_to(PROJECT_ROOT)}:{line}: {what}"
        for line, what in kit_imports(path)
        if not (what.startswith("waypoint:") and what.split(":", 1)[1] in waypoint.__all__)
    ]


def test_workflow_code_imports_only_public_names() -> None:
    files = _workflow_files()
    assert files, "no workflow code found"
    offenders = [problem for path in files for problem in private_imports(path)]
    assert offenders == []


def test_the_check_catches_a_deep_import(tmp_path: Path) -> None:
    sample = tmp_path / "node.py"
    sample.write_text(
        "from waypoint import update\n"
        "from waypoint.persistence.sql import Executor\n"
        "import waypoint.runner\n"
        "from waypoint import not_a_public_name\n"
    )
    found = [what for _, what in kit_imports(sample)]
    assert found == [
        "waypoint:update",
        "waypoint.persistence.sql:Executor",
        "waypoint.runner",
        "waypoint:not_a_public_name",
    ]
    public = [w for w in found if w.startswith("waypoint:") and w.split(":")[1] in waypoint.__all__]
    assert public == ["waypoint:update"]


@pytest.mark.parametrize("name", waypoint.__all__)
def test_every_public_name_resolves_and_is_documented(name: str) -> None:
    value = getattr(waypoint, name)
    if inspect.isclass(value) or inspect.isfunction(value):
        assert (value.__doc__ or "").strip(), f"{name} has no docstring"


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        getattr(waypoint, "nope")  # noqa: B009


def test_importing_the_package_does_not_import_langgraph() -> None:
    code = (
        "import sys, waypoint; print(sorted(m for m in sys.modules if m.startswith('langgraph')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT
    )
    assert done.stdout.strip() == "[]"

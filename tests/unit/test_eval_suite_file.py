"""Suite files: the shipped suite, and what an invalid one says."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import PROJECT_ROOT
from waypoint.errors import BadInput
from waypoint.evals.evaluators.catalog import BUILT_IN
from waypoint.evals.suite import Suite, load_suite

SUITE_DIR = PROJECT_ROOT / "evals" / "support"


def known_keys(suite: Suite) -> set[str]:
    """Names a suite may use in `evaluators` and in a case's `evaluators` list."""
    return {cls.key for cls in BUILT_IN} | {spec.name for spec in suite.judges}


def test_the_shipped_suite_covers_every_path() -> None:
    suite = load_suite(SUITE_DIR)
    assert len(suite.cases) >= 30
    tags = {tag for case in suite.cases for tag in case.tags}
    for needed in (
        "auto",
        "approval",
        "fraud",
        "escalation",
        "shipping",
        "other",
        "triage",
        "redraft",
        "deny",
        "failure",
        "guard",
        "human:approve",
        "human:edit",
        "human:reject",
        "human:respond",
    ):
        assert needed in tags, needed
    for case in suite.cases:
        assert suite.trace_path(case).exists(), case.id
        assert case.record is not None, case.id
        assert set(case.evaluators or []) <= known_keys(suite)
    assert set(suite.evaluators) <= known_keys(suite)
    deny = next(c for c in suite.cases if c.id == "deny-already-refunded")
    assert deny.record is not None
    assert (deny.record.input["customer_id"], deny.record.input["order_id"]) == ("C-400", "O-5")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


def test_an_invalid_suite_names_the_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: x\ngraph: support\ncases:\n"
        "  - {id: a, trace: a.jsonl, expect: {status: finished}}\n",
    )
    with pytest.raises(BadInput, match=r"cases\.0\.expect\.status"):
        load_suite(path)


def test_duplicate_case_ids_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: x\ngraph: support\ncases:\n"
        "  - {id: a, trace: a.jsonl}\n  - {id: a, trace: b.jsonl}\n",
    )
    with pytest.raises(BadInput, match="used twice"):
        load_suite(path)


def test_a_python_suite_file_defines_suite(tmp_path: Path) -> None:
    path = tmp_path / "suite.py"
    path.write_text(
        'SUITE = {"name": "py", "graph": "support", "cases": [{"id": "a", "trace": "a.jsonl"}]}\n'
    )
    assert load_suite(tmp_path).name == "py"

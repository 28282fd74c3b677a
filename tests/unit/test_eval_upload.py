"""`--upload`: refused without a key; the dataset and experiment mirror the local verdicts."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers import PROJECT_ROOT
from waypoint.errors import BadInput
from waypoint.evals.report import build_report
from waypoint.evals.session import run_suite
from waypoint.evals.suite import load_suite
from waypoint.evals.upload import dataset_name, evaluator_for, examples, require_api_key, target_for


def test_no_key_is_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LANGSMITH_API_KEY", raising=False)
    with pytest.raises(BadInput, match="LANGSMITH_API_KEY") as caught:
        require_api_key()
    assert caught.value.exit_code == 2


def test_examples_target_and_evaluators_report_the_local_verdicts() -> None:
    suite = load_suite(PROJECT_ROOT / "evals" / "support")
    run = asyncio.run(run_suite(suite, mode="score", case_ids=["approval-approve"]))
    report = build_report(run)
    assert dataset_name(report) == "waypoint-support"
    [example] = examples(report)
    assert example["inputs"]["case_id"] == "approval-approve"
    assert example["inputs"]["order_id"] == "O-2"
    assert example["outputs"]["status"] == "completed"
    results = {r.case_id: r for r in report.results}
    output = target_for(results)(example["inputs"])
    assert output["resolution"]["kind"] == "refunded"
    verdict = evaluator_for("interrupts", results)(example["inputs"], output)
    assert verdict == {"key": "interrupts", "score": 1.0, "comment": ""}
    skipped = evaluator_for("reply_correctness", results)(example["inputs"], output)
    assert skipped["score"] is None

"""The CI gate: thresholds, baseline regressions, errored cases, cost budgets; report files."""

from __future__ import annotations

import asyncio
import json
import shutil
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.helpers import PROJECT_ROOT
from waypoint.evals.report import Baseline, build_report
from waypoint.evals.report_files import write_baseline, write_report
from waypoint.evals.session import SuiteRun, run_suite
from waypoint.evals.suite import Case, Expectations, Suite, load_suite

SUITE = load_suite(PROJECT_ROOT / "evals" / "support")
IDS = ["auto-refund-small", "approval-approve", "triage-respond"]


def small_suite(tmp_path: Path, **settings: Any) -> Suite:
    """Three shipped cases, their traces copied into `tmp_path`."""
    (tmp_path / "traces").mkdir()
    cases = []
    for case in SUITE.cases:
        if case.id in IDS:
            shutil.copy(SUITE.trace_path(case), tmp_path / case.trace)
            cases.append(case)
    return SUITE.model_copy(deep=True, update={"cases": cases, "directory": tmp_path, **settings})


def expecting(case: Case, **changes: Any) -> Case:
    merged = {**case.expect.model_dump(exclude_unset=True), **changes}
    return case.model_copy(update={"expect": Expectations.model_validate(merged)})


def score(suite: Suite) -> SuiteRun:
    return asyncio.run(run_suite(suite, mode="score"))


def test_a_passing_run_passes_the_gate(tmp_path: Path) -> None:
    report = build_report(score(small_suite(tmp_path)))
    assert report.exit_code == 0
    assert report.problems == []
    assert {e.key: e.pass_rate for e in report.evaluators}["status"] == 1.0


def test_a_pass_rate_below_threshold_fails(tmp_path: Path) -> None:
    suite = small_suite(tmp_path)
    suite.cases[0] = expecting(suite.cases[0], status="failed")
    report = build_report(score(suite))
    assert report.exit_code == 1
    assert any(p.startswith("evaluator status: pass rate 66.67%") for p in report.problems)
    assert [c.name for c in report.clusters] == ["status failed"]


def test_a_lowered_threshold_still_fails_on_a_baseline_regression(tmp_path: Path) -> None:
    suite = small_suite(tmp_path)
    baseline_path = tmp_path / "baseline.json"
    write_baseline(build_report(score(suite)), baseline_path)
    suite.cases[0] = expecting(suite.cases[0], status="failed")
    suite.evaluators["status"] = suite.evaluators["status"].model_copy(update={"threshold": 0.5})
    report = build_report(score(suite), Baseline.read(baseline_path))
    assert report.regressions == ["auto-refund-small"]
    assert report.exit_code == 1
    assert not any(p.startswith("evaluator status") for p in report.problems)


def test_an_unreadable_trace_is_an_errored_case(tmp_path: Path) -> None:
    suite = small_suite(tmp_path)
    (tmp_path / suite.cases[1].trace).write_text("garbage\n")
    report = build_report(score(suite))
    assert report.exit_code == 1
    assert report.results[1].errored
    assert "1 case(s) errored: approval-approve" in report.problems


def test_cost_past_the_budget_fails(tmp_path: Path) -> None:
    suite = small_suite(tmp_path, usd_per_1k_tokens={"fake:model": Decimal("2")})
    path = tmp_path / suite.cases[0].trace
    lines = path.read_text().splitlines()
    runs = [json.loads(line) for line in lines[1:]]
    for run in runs:  # as if a real model had served draft_reply with 1,000 tokens
        if run["extra"]["metadata"].get("waypoint_capability") == "draft_reply":
            run["total_tokens"] = 1000
            run["extra"]["metadata"]["ls_model_name"] = "fake:model"
    path.write_text("\n".join([lines[0], *(json.dumps(r) for r in runs)]) + "\n")
    report = build_report(score(suite))
    assert report.results[0].cost == Decimal("2")
    assert report.results[0].node_cost["draft"] == Decimal("2")
    assert report.over_budget == ["auto-refund-small"]
    assert report.exit_code == 1


def test_report_files(tmp_path: Path) -> None:
    suite = small_suite(tmp_path)
    suite.cases[0] = expecting(suite.cases[0], status="failed")
    report = build_report(score(suite))
    written = write_report(report, tmp_path / "report")
    assert [p.name for p in written] == ["eval-report.json", "eval-report.xml", "eval-report.md"]
    data = json.loads(written[0].read_text())
    assert data["passed"] is False
    assert data["cases"]["auto-refund-small"]["evaluators"]["status"]["passed"] is False
    assert Baseline.read(written[0]).passed == {
        "auto-refund-small": False,
        "approval-approve": True,
        "triage-respond": True,
    }
    suite_xml = ET.parse(written[1]).getroot().find("testsuite")
    assert suite_xml is not None
    assert suite_xml.get("failures") == "1"
    assert int(suite_xml.get("skipped") or 0) >= 1  # the LLM judges, offline
    page = written[2].read_text()
    assert "**FAILED**" in page
    assert "| auto-refund-small |" in page

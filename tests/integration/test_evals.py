"""Eval suites end to end: the shipped suite in score and replay modes, regressions caught by
the real command line, drift, recording from the CLI and the server switch, redaction."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langsmith.schemas import Run

import nodes.support.capabilities as support_capabilities
import nodes.support.decide as support_decide
from state.support import RefundDecision, SupportState
from tests.conftest import waypoint_cli
from tests.helpers import PROJECT_ROOT
from waypoint.errors import BadInput, RunKeptError
from waypoint.evals.recording import record_case
from waypoint.evals.report import Baseline, Report, build_report
from waypoint.evals.session import run_suite
from waypoint.evals.suite import load_suite
from waypoint.evals.trace_format import read_trace

SUITE_DIR = PROJECT_ROOT / "evals" / "support"
BASELINE = SUITE_DIR / "baseline.json"
EMAILS = ("ada@example.com", "grace@example.com", "mallory@example.com", "alan@example.com")
MUG = {
    "ticket_id": "T-9001",
    "customer_id": "C-100",
    "order_id": "O-1",
    "message": "My mug arrived broken. I would like a refund, please.",
}


def evaluate(mode: str, **kwargs: Any) -> Report:
    suite = load_suite(SUITE_DIR)
    run = asyncio.run(run_suite(suite, mode=mode, **kwargs))  # type: ignore[arg-type]
    return build_report(run, Baseline.read(BASELINE))


def test_score_mode_passes_on_the_shipped_suite() -> None:
    report = evaluate("score")
    assert len(report.results) >= 30
    assert report.problems == []
    assert report.exit_code == 0
    skipped = {e.key: e.skipped for e in report.evaluators}
    assert skipped["reply_correctness"] > 0  # offline: LLM judges skipped, never passed
    assert all(e.passed == 0 for e in report.evaluators if e.key.startswith("reply_"))


def test_replay_mode_passes_on_the_shipped_suite() -> None:
    report = evaluate("replay")
    assert report.problems == []
    assert all(not r.drift for r in report.results)
    assert {r.case_id for r in report.results} == {c.id for c in load_suite(SUITE_DIR).cases}


def test_the_cli_scores_the_suite_and_writes_the_reports(tmp_path: Path) -> None:
    done = waypoint_cli(
        "eval", str(SUITE_DIR), "--baseline", str(BASELINE), "--report", str(tmp_path)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS" in done.stdout
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["eval-report.json", "eval-report.md", "eval-report.xml"]
    assert json.loads((tmp_path / "eval-report.json").read_text())["passed"] is True


def test_a_changed_threshold_is_caught_by_the_cli() -> None:
    done = waypoint_cli(
        "eval",
        str(SUITE_DIR),
        "--mode",
        "replay",
        "--tag",
        "auto",
        "--baseline",
        str(BASELINE),
        "--context",
        '{"approval_threshold": "20"}',
        "--json",
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert "auto-refund-small" in report["regressions"]
    assert "diverged after review_gate" in report["clusters"]
    case = report["cases"]["auto-refund-small"]
    assert case["divergence"] == "after review_gate: went to approval, expected execute"
    assert case["evaluators"]["trajectory"]["passed"] is False


def test_a_changed_route_is_caught_by_the_cli() -> None:
    """The real command line in a new process whose graph no longer escalates CRM problems."""
    patch = (
        "import sys\n"
        "import graphs.support as g\n"
        "g.route_after_lookup = lambda s: 'escalate' if s.lookup.customer is None else 'decide'\n"
        # a changed module is compiled afresh on import: rebuild the served graph likewise
        "g.graph = g.build().compile(name='support').with_config("
        "recursion_limit=g.RECURSION_LIMIT)\n"
        "from waypoint.cli.app import main\n"
        "sys.argv = ['waypoint', *sys.argv[1:]]\n"
        "main()\n"
    )
    args = ["eval", str(SUITE_DIR), "--mode", "replay", "--tag", "escalation", "--json"]
    done = subprocess.run(
        [sys.executable, "-c", patch, *args, "--baseline", str(BASELINE)],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert "other-customers-order-reject" in report["regressions"]
    assert "refund-without-order-id-respond" in report["regressions"]
    assert "diverged after lookup" in report["clusters"]
    assert "unknown-customer-respond" not in report["regressions"]  # still escalated


def test_a_changed_policy_is_caught_in_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    original = support_decide.refund_policy

    def lenient(state: SupportState, threshold: Any, paid: Any = None) -> RefundDecision:
        decision = original(state, threshold, paid)
        return decision.model_copy(update={"needs_approval": False, "approval_reasons": []})

    monkeypatch.setattr(support_decide, "refund_policy", lenient)
    report = evaluate("replay", tags=["fraud"])
    assert report.exit_code == 1
    assert set(report.regressions) == {"fraud-approve", "fraud-reject", "fraud-edit-amount"} | {
        "fraud-waiting"
    }
    assert [c.name for c in report.clusters] == ["diverged after review_gate"]


def test_an_unseen_prompt_is_reported_as_drift(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(support_capabilities, "SIGN_OFF", "The Waypoint Team")  # draft prompt
    report = evaluate("replay", case_ids=["auto-refund-small", "triage-respond"])
    drifted, untouched = report.results
    assert drifted.errored
    assert drifted.drift[0]["node"] == "draft"
    assert drifted.drift[0]["capability"] == "draft_reply"
    assert drifted.cluster == "drift at draft"
    assert untouched.passed  # triage-respond never drafts
    assert report.exit_code == 1
    assert any("errored: auto-refund-small" in p for p in report.problems)


def test_upload_without_a_key_says_so_and_exits_2() -> None:
    done = waypoint_cli("eval", str(SUITE_DIR), "--upload", env={"LANGSMITH_API_KEY": ""})
    assert done.returncode == 2
    assert "LANGSMITH_API_KEY" in done.stderr


def test_record_from_the_cli_with_answers(tmp_path: Path) -> None:
    out = tmp_path / "fraud.jsonl"
    done = waypoint_cli(
        "record",
        "support",
        "--input",
        json.dumps({**MUG, "customer_id": "C-300", "order_id": "O-3"}),
        "--answer",
        '{"type": "edit", "args": {"amount": "30.00"}}',
        "--out",
        str(out),
        "--db",
        f"sqlite:///{tmp_path / 'db.sqlite'}",
    )
    assert done.returncode == 0, done.stderr
    trace = read_trace(out)
    assert trace.header.answers == [{"type": "edit", "args": {"amount": "30.00"}}]
    assert trace.header.status == "completed"
    assert all(isinstance(run, Run) for run in trace.load_runs())
    text = out.read_text()
    assert "mallory@example.com" not in text  # Customer.email is marked sensitive
    assert '"email":"[redacted]"' in text


def test_run_record_and_the_server_switch(tmp_path: Path) -> None:
    """`run --record FILE`, and WAYPOINT_RECORD_DIR recording every run of the process."""
    out, directory = tmp_path / "run.jsonl", tmp_path / "server-traces"
    done = waypoint_cli(
        "run",
        "support",
        "--input",
        json.dumps(MUG),
        "--thread",
        "rec-thread-1",
        "--record",
        str(out),
        "--db",
        f"sqlite:///{tmp_path / 'db.sqlite'}",
        env={"WAYPOINT_RECORD_DIR": str(directory)},
    )
    assert done.returncode == 0, done.stderr
    recorded, served = read_trace(out), read_trace(directory / "rec-thread-1.jsonl")
    assert recorded.header.thread_id == served.header.thread_id == "rec-thread-1"
    assert [r["name"] for r in served.runs] == [r["name"] for r in recorded.runs]
    for path in (out, directory / "rec-thread-1.jsonl"):
        text = path.read_text()
        assert not [e for e in EMAILS if e in text], path


def test_leftover_answers_say_the_thread_is_kept(tmp_path: Path) -> None:
    """The run paid before the extra answer showed up: not `BadInput` ("nothing written")."""
    with pytest.raises(RunKeptError, match="left over") as stopped:
        asyncio.run(
            record_case(
                "support",
                MUG,
                answers=[{"type": "approve"}],
                db_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
            )
        )
    assert not isinstance(stopped.value, BadInput)
    assert "kept" in str(stopped.value)


def test_live_mode_calls_the_configured_providers() -> None:
    """Offline providers are the configured ones here: live runs them and matches the suite."""
    report = evaluate("live", case_ids=["approval-edit-amount", "triage-edit-refund-no-order"])
    assert report.problems == []
    assert [r.model_calls for r in report.results] == [3, 1]

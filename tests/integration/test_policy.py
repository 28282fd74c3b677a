"""The caller is never above the policy: context may tighten it, never loosen it.

Thresholds and budgets come from `[policy.support]` (the context schema's defaults where it is
silent). A run's context may lower the approval threshold or a budget, never raise it; a
refusal is exit 2 with nothing written.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.conftest import waypoint_cli
from tests.helpers import count, demo_input, run
from waypoint.errors import PolicyRefused
from waypoint.policy import admit_context, operator_policy
from waypoint.runner import start_run
from waypoint.workflows import load_workflow


def _thread() -> str:
    return f"policy-{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize(
    ("context", "field"),
    [
        ({"approval_threshold": "100000"}, "approval_threshold"),
        ({"classification_threshold": 0.1}, "classification_threshold"),
        ({"max_draft_revisions": 9}, "max_draft_revisions"),
        ({"budgets": {"steps": 1000}}, "budgets.steps"),
        ({"budgets": {"steps": None}}, "budgets.steps"),
    ],
)
def test_a_looser_context_is_refused_and_writes_nothing(
    db_url: str, context: dict[str, object], field: str
) -> None:
    thread = _thread()
    with pytest.raises(PolicyRefused) as refused:
        run(
            start_run(
                "support",
                demo_input("auto refund"),
                thread_id=thread,
                db_url=db_url,
                context=context,
            )
        )
    assert refused.value.exit_code == 2
    assert refused.value.field == field
    assert "may only tighten the policy" in str(refused.value)
    assert count(db_url, "waypoint_threads", thread) == 0
    assert count(db_url, "checkpoints", thread) == 0


def test_a_tighter_context_applies_and_the_rest_stays_the_policy(db_url: str) -> None:
    report = run(
        start_run(
            "support",
            demo_input("auto refund"),  # 25.00: under the policy's 100.00
            db_url=db_url,
            context={"approval_threshold": "10", "budgets": {"tokens": 5000}},
        )
    )
    assert report.status == "waiting"  # 25.00 is above the run's own 10.00
    workflow = load_workflow("support")
    admitted = admit_context("support", workflow.context_schema, {"budgets": {"tokens": 5000}})
    budgets = admitted.model_dump()["budgets"]
    # the budgets not asked for stay the policy's, not "unlimited"
    assert (budgets["tokens"], budgets["steps"], budgets["node_visits"]) == (5000, 60, 12)


def test_the_operator_policy_in_waypoint_toml_sets_the_ceiling(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "waypoint.toml"
    base = Path(__file__).resolve().parents[2] / "waypoint.toml"
    config.write_text(base.read_text() + '\n[policy.support]\napproval_threshold = "500"\n')
    monkeypatch.setenv("WAYPOINT_CONFIG", str(config))
    relaxed = run(
        start_run(
            "support",
            demo_input("approval needed"),  # 480.00
            db_url=db_url,
            context={"approval_threshold": "500"},
        )
    )
    assert relaxed.status == "completed"
    # and what the context leaves out is the policy: 480.00 is under 500.00 again
    default = run(start_run("support", demo_input("approval needed"), db_url=db_url))
    assert default.status == "completed"


def test_operator_policy_in_code_is_scoped_to_its_block(db_url: str) -> None:
    with operator_policy("support", {"approval_threshold": "500"}):
        inside = run(
            start_run(
                "support",
                demo_input("approval needed"),
                db_url=db_url,
                context={"approval_threshold": "500"},
            )
        )
    assert inside.status == "completed"
    with pytest.raises(PolicyRefused):
        run(
            start_run(
                "support",
                demo_input("approval needed"),
                db_url=db_url,
                context={"approval_threshold": "500"},
            )
        )


def test_cli_refuses_a_looser_context_with_exit_2(sqlite_url: str) -> None:
    thread = _thread()
    result = waypoint_cli(
        "run",
        "support",
        "--input",
        '{"ticket_id": "T-9", "customer_id": "C-200", "order_id": "O-2", "message": "refund"}',
        "--context",
        '{"approval_threshold": 100000}',
        "--thread",
        thread,
        "--db",
        sqlite_url,
    )
    assert result.returncode == 2, result.stderr
    assert "context.approval_threshold: may only tighten the policy (at most 100" in result.stderr
    assert count(sqlite_url, "waypoint_threads", thread) == 0


def test_a_bad_policy_in_the_config_is_a_config_error(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "waypoint.toml"
    config.write_text('[policy.support]\napproval_thresold = "5"\n')
    monkeypatch.setenv("WAYPOINT_CONFIG", str(config))
    with pytest.raises(Exception, match=r"policy\.support\.approval_thresold: not a policy field"):
        run(start_run("support", demo_input("auto refund"), db_url=sqlite_url))

"""Faults injected through real test providers land on their declared rung (both backends)."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import psycopg
import pytest

import tests.fault_providers as faults
from tests.conftest import waypoint_cli
from tests.helpers import demo_input, query, run
from waypoint.audit import thread_audit
from waypoint.capabilities import registry
from waypoint.runner import ThreadReport, resume_thread, start_run
from waypoint.timetravel import fork_thread, thread_history


@pytest.fixture(autouse=True)
def _clean(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    faults.CALLS.clear()
    faults.CALL_TIMES.clear()
    registry.router.signals.clear()  # live routing signals are per process: start each test fresh
    monkeypatch.setenv("WAYPOINT_PLUGINS", "tests.fault_providers")
    _reset_breakers(db_url)
    yield
    _reset_breakers(db_url)


def _reset_breakers(db_url: str) -> None:
    """Breakers and the provider health processes shared (routing signals start fresh)."""
    for sql in (
        "DELETE FROM waypoint_breakers WHERE provider LIKE 'classify_ticket/%'",
        "DELETE FROM waypoint_provider_health WHERE provider LIKE '%classifier'",
    ):
        # the table does not exist before the first run on a fresh database
        with contextlib.suppress(sqlite3.OperationalError, psycopg.errors.UndefinedTable):
            if db_url.startswith("sqlite:///"):
                with closing(sqlite3.connect(db_url.removeprefix("sqlite:///"))) as lite, lite:
                    lite.execute(sql)
            else:
                with psycopg.connect(db_url, autocommit=True) as pg:
                    pg.execute(sql)


def _route(monkeypatch: pytest.MonkeyPatch, *providers: str) -> None:
    monkeypatch.setenv("WAYPOINT_ROUTE_CLASSIFY_TICKET", ",".join(providers))


def _start(db_url: str) -> ThreadReport:
    ticket = demo_input("auto refund", ticket_id=f"T-{uuid.uuid4().hex[:6]}")
    return run(start_run("support", ticket, db_url=db_url))


def _classify_row(db_url: str, thread_id: str) -> dict[str, Any]:
    story = run(thread_audit(thread_id, db_url=db_url))
    rows = [r for r in story["invocations"] if r["node"] == "classify"]
    return dict(rows[-1])


def test_timeout_falls_back_to_the_next_provider(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _route(monkeypatch, "slow-classifier", "offline-keyword-classifier")
    report = _start(db_url)
    assert report.status == "completed"
    row = _classify_row(db_url, report.thread_id)
    assert row["provider"] == "offline-keyword-classifier"
    assert "skipped slow-classifier: ProviderUnavailable" in row["routing_reason"]
    assert "no answer within 0.2s" in row["routing_reason"]


def test_429_is_retried_after_retry_after(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _route(monkeypatch, "rate-limited-classifier")
    report = _start(db_url)
    assert report.status == "completed"
    first, second = faults.CALL_TIMES["rate-limited-classifier"]
    assert second - first >= faults.RETRY_AFTER  # waited out Retry-After before calling again
    assert _classify_row(db_url, report.thread_id)["attempt"] == 2  # the node's retry policy


def test_5xx_falls_back_and_opens_the_shared_breaker(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _route(monkeypatch, "failing-classifier", "offline-keyword-classifier")
    reports = [_start(db_url) for _ in range(3)]
    assert [r.status for r in reports] == ["completed"] * 3
    assert faults.CALLS["failing-classifier"] == 3
    (breaker,) = query(
        db_url,
        "SELECT state, failures FROM waypoint_breakers WHERE provider = "
        "'classify_ticket/failing-classifier'",
    )
    assert breaker["state"] == "open" and breaker["failures"] == 3
    fourth = _start(db_url)
    assert faults.CALLS["failing-classifier"] == 3  # not called while open
    assert (
        "skipped failing-classifier: breaker open"
        in _classify_row(db_url, fourth.thread_id)["routing_reason"]
    )


def test_malformed_output_with_no_fallback_escalates_to_a_human(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAYPOINT_BREAKER_THRESHOLD", "100")
    _route(monkeypatch, "malformed-classifier")
    report = _start(db_url)
    assert report.status == "waiting" and report.exit_code == 3
    args = report.interrupts[0].value["action_requests"][0]["args"]
    assert args["node"] == "classify" and args["error_type"] == "CapabilityContractError"
    assert faults.CALLS["malformed-classifier"] == 3  # every retry tried it
    monkeypatch.setenv("WAYPOINT_ROUTE_CLASSIFY_TICKET", "offline-keyword-classifier")
    retried = run(
        resume_thread(report.thread_id, {"decisions": [{"type": "approve"}]}, db_url=db_url)
    )
    assert retried.status == "completed"


def test_an_exception_inside_a_gate_halts_with_the_reason(db_url: str) -> None:
    ticket = demo_input("unintelligible message", ticket_id=f"T-{uuid.uuid4().hex[:6]}")
    waiting = run(start_run("support", ticket, db_url=db_url))
    history = run(thread_history(waiting.thread_id, db_url=db_url))
    before_gate = next(r for r in history.rows if r.next == ["classification_gate"])
    run(
        fork_thread(
            waiting.thread_id,
            before_gate.checkpoint_id,
            {"classification": None},
            db_url=db_url,
            as_node="classify",
            override="test: a classification the gate cannot read",
            allow_effects=True,
        )
    )
    halted = run(resume_thread(waiting.thread_id, db_url=db_url))
    assert halted.status == "halted" and halted.exit_code == 4
    halt = halted.values["halt"]
    assert halt["kind"] == "failure" and halt["node"] == "classification_gate"
    assert "AssertionError" in halt["reason"]


def test_policies_and_registry_commands(db_url: str) -> None:
    shown = waypoint_cli("graph", "support", "--policies", "--json")
    assert shown.returncode == 0, shown.stderr
    ladders = {row["node"]: row for row in json.loads(shown.stdout)}
    assert set(ladders) >= {"classify", "lookup", "draft", "execute", "review_gate"}
    assert ladders["classify"]["fallback"] == "next provider of classify_ticket"
    assert "429-aware" in ladders["classify"]["retry"]
    assert ladders["review_gate"]["last"] == "halt (exit 4)"
    listed = waypoint_cli(
        "registry", "--db", db_url, "--json", env={**os.environ, "WAYPOINT_PLUGINS": ""}
    )
    assert listed.returncode == 0, listed.stderr
    cards = {(c["capability"], c["name"]): c for c in json.loads(listed.stdout)}
    card = cards[("classify_ticket", "offline-keyword-classifier")]
    assert card["owner"] == "waypoint" and card["version"] == "1" and card["health"] == "closed"
    bad = waypoint_cli(
        "run",
        "support",
        "--input",
        json.dumps(demo_input("auto refund")),
        "--db",
        db_url,
        env={**os.environ, "WAYPOINT_ROUTE_CLASSIFY_TICKET": "no-such-provider"},
    )
    assert bad.returncode == 2 and "no-such-provider" in bad.stderr


def test_breaker_opened_by_other_processes_is_seen_by_the_next(db_url: str) -> None:
    env = {
        **os.environ,
        "WAYPOINT_PLUGINS": "tests.fault_providers",
        "WAYPOINT_ROUTE_CLASSIFY_TICKET": "failing-classifier,offline-keyword-classifier",
    }
    threads = []
    for _ in range(4):  # four processes: three failures open the breaker, the fourth skips it
        thread = f"brk-{uuid.uuid4().hex[:8]}"
        ticket = demo_input("auto refund", ticket_id=f"T-{uuid.uuid4().hex[:6]}")
        done = waypoint_cli(
            "run",
            "support",
            "--input",
            json.dumps(ticket),
            "--thread",
            thread,
            "--db",
            db_url,
            env=env,
        )
        assert done.returncode == 0, done.stderr
        threads.append(thread)
    reasons = [_classify_row(db_url, t)["routing_reason"] for t in threads]
    assert all("skipped failing-classifier: ProviderUnavailable" in r for r in reasons[:3])
    assert "skipped failing-classifier: breaker open" in reasons[3]

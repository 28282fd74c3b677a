"""External effects through the outbox, on both backends, against the fake payment service.

The `payer` kit graph pays through `call_once`; the fake's own ledger says how many payments
were applied. Faults (apply-then-drop, 5xx before and after applying, slow answers past the
client's timeout, an outage) never make a payment apply twice; a refusal is routed on.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import waypoint_cli
from tests.helpers import query, run
from waypoint.fakes.payments import FakePayments, start_in_thread
from waypoint.runner import resume_thread, start_run


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePayments]:
    service = start_in_thread(tmp_path / "payments-ledger.sqlite")
    monkeypatch.setenv("WAYPOINT_PROVIDER_PAYMENTS_URL", service.url)
    monkeypatch.setenv("WAYPOINT_PROVIDER_PAYMENTS_TIMEOUT", "2")
    yield service
    service.stop()


def _ref() -> str:
    return f"R-{uuid.uuid4().hex[:10]}"


def _outbox(db_url: str, thread: str) -> list[dict[str, object]]:
    return query(
        db_url,
        "SELECT effect_key, status, attempts, compensates FROM waypoint_outbox "
        "WHERE thread_id = ? ORDER BY seq",
        (thread,),
    )


def test_a_payment_is_made_once_and_replayed_by_its_key(db_url: str, fake: FakePayments) -> None:
    ref = _ref()
    thread = f"pay-{uuid.uuid4().hex[:8]}"
    done = run(
        start_run(
            "payer",
            {"payments": [{"reference": ref, "amount": "25.00"}]},
            thread_id=thread,
            db_url=db_url,
        )
    )
    assert done.status == "completed", done
    assert done.values["paid"][0]["amount"] == "25.00"
    assert fake.applied(ref) == {"payments": 1, "reversals": 0}
    assert [r["status"] for r in _outbox(db_url, thread)] == ["delivered"]
    # another thread with the same business key gets the first answer, pays nothing
    again = run(
        start_run("payer", {"payments": [{"reference": ref, "amount": "25.00"}]}, db_url=db_url)
    )
    assert again.status == "completed"
    assert again.values["paid"][0]["id"] == done.values["paid"][0]["id"]
    assert fake.applied(ref)["payments"] == 1


@pytest.mark.parametrize(
    "faults",
    [
        ["drop_after_apply"],
        ["error_after_apply"],
        ["error_before", "error_before"],
        ["slow:3"],
        ["drop_after_apply", "error_before", "error_after_apply"],
    ],
)
def test_faults_never_pay_twice(db_url: str, fake: FakePayments, faults: list[str]) -> None:
    ref = _ref()
    fake.inject(*faults)
    done = run(
        start_run("payer", {"payments": [{"reference": ref, "amount": "10.00"}]}, db_url=db_url)
    )
    assert done.status == "completed", done
    assert fake.applied(ref) == {"payments": 1, "reversals": 0}


def test_a_refusal_is_routed_on_not_retried(db_url: str, fake: FakePayments) -> None:
    ref = _ref()
    thread = f"pay-{uuid.uuid4().hex[:8]}"
    done = run(
        start_run(
            "payer",
            {"payments": [{"reference": ref, "amount": "20000.00"}]},
            thread_id=thread,
            db_url=db_url,
        )
    )
    assert done.status == "completed"
    assert done.values["receipt"] == f"declined: {ref}"
    assert fake.applied(ref)["payments"] == 0
    assert [(r["status"], r["attempts"]) for r in _outbox(db_url, thread)] == [("refused", 1)]


def test_an_outage_past_the_retries_fails_then_the_relay_delivers_once(
    db_url: str, fake: FakePayments
) -> None:
    ref = _ref()
    thread = f"pay-{uuid.uuid4().hex[:8]}"
    fake.inject(outage_seconds=60)
    failed = run(
        start_run(
            "payer",
            {"payments": [{"reference": ref, "amount": "7.00"}]},
            thread_id=thread,
            db_url=db_url,
        )
    )
    assert failed.status == "failed", failed
    assert [r["status"] for r in _outbox(db_url, thread)] == ["pending"]
    assert fake.applied(ref)["payments"] == 0
    env = {"WAYPOINT_PROVIDER_PAYMENTS_URL": fake.url}
    still = waypoint_cli("relay", "--once", "--attempts", "2", "--db", db_url, "--json", env=env)
    assert still.returncode == 1, still.stderr
    fake.inject(outage_seconds=0)
    relayed = waypoint_cli("relay", "--once", "--db", db_url, "--json", env=env)
    assert relayed.returncode == 0, relayed.stderr
    assert json.loads(relayed.stdout)["delivered"] >= 1
    assert fake.applied(ref)["payments"] == 1
    resumed = run(resume_thread(thread, None, db_url=db_url))
    assert resumed.status == "completed", resumed
    assert fake.applied(ref)["payments"] == 1


def test_the_relay_as_a_worker_delivers_until_sigterm(own_db_url: str, fake: FakePayments) -> None:
    """It relays every pending row of its database: the database is this test's alone."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import PROJECT_ROOT

    db_url = own_db_url

    ref = _ref()
    thread = f"pay-{uuid.uuid4().hex[:8]}"
    fake.inject(outage_seconds=60)
    failed = run(
        start_run(
            "payer",
            {"payments": [{"reference": ref, "amount": "8.00"}]},
            thread_id=thread,
            db_url=db_url,
        )
    )
    assert failed.status == "failed"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "waypoint",
            "relay",
            "--poll",
            "0.1",
            "--max-backoff",
            "0.3",
            "--db",
            db_url,
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "LANGGRAPH_STRICT_MSGPACK": "true"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)
        assert worker.poll() is None  # the provider is down: it keeps trying
        fake.inject(outage_seconds=0)
        deadline = time.monotonic() + 30
        while fake.applied(ref)["payments"] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        while _outbox(db_url, thread)[0]["status"] != "delivered" and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert "1 delivered" in out
    assert fake.applied(ref)["payments"] == 1
    resumed = run(resume_thread(thread, None, db_url=db_url))
    assert resumed.status == "completed"
    assert fake.applied(ref)["payments"] == 1


def test_an_unconfigured_provider_enqueues_nothing_and_is_not_retried(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WAYPOINT_PROVIDER_PAYMENTS_URL", raising=False)
    thread = f"pay-{uuid.uuid4().hex[:8]}"
    failed = run(
        start_run(
            "payer",
            {"payments": [{"reference": _ref(), "amount": "8.00"}]},
            thread_id=thread,
            db_url=db_url,
        )
    )
    assert failed.status == "failed"
    assert "WAYPOINT_PROVIDER_PAYMENTS_URL" in failed.values["failure"]["message"]
    assert _outbox(db_url, thread) == []
    attempts = query(
        db_url,
        "SELECT count(*) AS n FROM waypoint_ledger WHERE thread_id = ? AND node = 'pay'",
        (thread,),
    )
    assert attempts == [{"n": 1}]

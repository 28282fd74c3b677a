"""`waypoint compensate`: a thread's effects undone newest first, exactly once, audited.

Real processes on both backends against the fake payment service; a compensation SIGKILLed
half way and run again still reverses each payment once. Bad input exits 2 and writes nothing.
"""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import waypoint_cli
from tests.helpers import query, run, start_paused
from waypoint.fakes.payments import FakePayments, start_in_thread
from waypoint.runner import start_run


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePayments]:
    service = start_in_thread(tmp_path / "payments-ledger.sqlite")
    monkeypatch.setenv("WAYPOINT_PROVIDER_PAYMENTS_URL", service.url)
    monkeypatch.setenv("WAYPOINT_ACTOR", "alice@example.com")
    yield service
    service.stop()


def _paid_thread(db_url: str, *amounts: str) -> tuple[str, list[str]]:
    thread = f"comp-{uuid.uuid4().hex[:8]}"
    refs = [f"R-{uuid.uuid4().hex[:10]}" for _ in amounts]
    payments = [{"reference": r, "amount": a} for r, a in zip(refs, amounts, strict=True)]
    done = run(start_run("payer", {"payments": payments}, thread_id=thread, db_url=db_url))
    assert done.status == "completed", done
    return thread, refs


def _noted(db_url: str, refs: list[str]) -> dict[str, int]:
    """How many times the payer's local undo noted each payment's reversal."""
    return {
        ref: int(
            query(
                db_url, "SELECT count(*) AS n FROM kit_payer_reversals WHERE reference = ?", (ref,)
            )[0]["n"]
        )
        for ref in refs
    }


def _footprint(db_url: str, thread: str) -> dict[str, Any]:
    return {
        "outbox": query(
            db_url,
            "SELECT effect_key, status, attempts FROM waypoint_outbox WHERE thread_id = ? "
            "ORDER BY seq",
            (thread,),
        ),
        "requests": query(
            db_url,
            "SELECT count(*) AS n FROM waypoint_compensations WHERE thread_id = ?",
            (thread,),
        ),
    }


def test_compensate_reverses_newest_first_once_and_audits(db_url: str, fake: FakePayments) -> None:
    thread, (first, second) = _paid_thread(db_url, "10.00", "20.00")
    done = waypoint_cli("compensate", thread, "--reason", "wrong refund", "--db", db_url, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [c["effect"] for c in report["compensated"]] == [
        json.dumps(["kit.payment", second], separators=(",", ":")),
        json.dumps(["kit.payment", first], separators=(",", ":")),
    ]
    assert fake.applied(first) == {"payments": 1, "reversals": 1}
    assert fake.applied(second) == {"payments": 1, "reversals": 1}
    assert _noted(db_url, [first, second]) == {first: 1, second: 1}  # the local undo, once each
    audit = query(
        db_url, "SELECT actor, reason FROM waypoint_compensations WHERE thread_id = ?", (thread,)
    )
    assert audit == [{"actor": "alice@example.com", "reason": "wrong refund"}]
    rows = query(
        db_url,
        "SELECT actor, reason, status FROM waypoint_outbox WHERE thread_id = ? "
        "AND compensates IS NOT NULL",
        (thread,),
    )
    assert (
        rows
        == [{"actor": "alice@example.com", "reason": "wrong refund", "status": "delivered"}] * 2
    )

    story = json.loads(waypoint_cli("audit", thread, "--db", db_url, "--json").stdout)
    assert [e["status"] for e in story["effects"]] == ["delivered"] * 4
    assert [(c["actor"], c["reason"]) for c in story["compensations"]] == [
        ("alice@example.com", "wrong refund")
    ]

    before = _footprint(db_url, thread)
    again = waypoint_cli("compensate", thread, "--reason", "again", "--db", db_url)
    assert again.returncode == 2, again.stderr
    assert "compensated already" in again.stderr
    assert _footprint(db_url, thread) == before
    assert fake.applied(first)["reversals"] == 1


@pytest.mark.parametrize(
    "point", ["compensate:after_enqueue", "outbox:kit.payment.compensation:before_record"]
)
def test_compensate_killed_half_way_then_run_again_reverses_once(
    db_url: str, fake: FakePayments, tmp_path: Path, point: str
) -> None:
    thread, refs = _paid_thread(db_url, "10.00", "20.00")
    proc = start_paused(
        ["compensate", thread, "--reason", "revoked", "--db", db_url], point, tmp_path
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    again = waypoint_cli("compensate", thread, "--reason", "finish it", "--db", db_url)
    assert again.returncode == 0, again.stderr
    for ref in refs:
        assert fake.applied(ref) == {"payments": 1, "reversals": 1}
    assert _noted(db_url, refs) == dict.fromkeys(refs, 1)
    reasons = query(
        db_url,
        "SELECT reason FROM waypoint_compensations WHERE thread_id = ? ORDER BY requested_at",
        (thread,),
    )
    assert [r["reason"] for r in reasons] == ["revoked", "finish it"]


def test_a_local_undo_that_fails_leaves_the_compensation_pending_then_applies_once(
    db_url: str, fake: FakePayments
) -> None:
    """The provider reversed the payment, but the local part failed: nothing is recorded
    undone (the record and the local change share a transaction), the command says what is
    pending; run again, the provider replays its answer under the same key and the local part
    runs once."""
    thread, [ref] = _paid_thread(db_url, "7.00")
    failed = waypoint_cli(
        "compensate", thread, "--reason", "wrong payment", "--db", db_url,
        env={"KIT_PAYER_UNDO_FAILS": "1"},
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    assert "not complete" in failed.stderr and "Traceback" not in failed.stderr
    assert fake.applied(ref) == {"payments": 1, "reversals": 1}
    assert _noted(db_url, [ref]) == {ref: 0}
    pending = query(
        db_url,
        "SELECT status, last_error FROM waypoint_outbox WHERE thread_id = ? "
        "AND compensates IS NOT NULL",
        (thread,),
    )
    assert [row["status"] for row in pending] == ["pending"]
    assert "local undo failed: RuntimeError" in str(pending[0]["last_error"])
    again = waypoint_cli("compensate", thread, "--reason", "finish it", "--db", db_url)
    assert again.returncode == 0, again.stderr
    assert fake.applied(ref) == {"payments": 1, "reversals": 1}
    assert _noted(db_url, [ref]) == {ref: 1}


def test_bad_input_exits_2_and_writes_nothing(db_url: str, fake: FakePayments) -> None:
    thread, _ = _paid_thread(db_url, "5.00")
    before = _footprint(db_url, thread)
    unknown = waypoint_cli("compensate", "no-such-thread", "--reason", "x", "--db", db_url)
    assert unknown.returncode == 2 and "no thread" in unknown.stderr
    no_reason = waypoint_cli("compensate", thread, "--db", db_url)
    assert no_reason.returncode == 2 and "reason" in no_reason.stderr
    assert _footprint(db_url, thread) == before

    refused_thread = f"comp-{uuid.uuid4().hex[:8]}"
    declined = run(
        start_run(
            "payer",
            {"payments": [{"reference": f"R-{uuid.uuid4().hex[:8]}", "amount": "99999.00"}]},
            thread_id=refused_thread,
            db_url=db_url,
        )
    )
    assert declined.values["receipt"].startswith("declined")
    nothing = waypoint_cli("compensate", refused_thread, "--reason", "x", "--db", db_url)
    assert nothing.returncode == 2, nothing.stderr
    assert _footprint(db_url, refused_thread)["requests"] == [{"n": 0}]

    bad_poll = waypoint_cli("relay", "--once", "--poll", "0", "--db", db_url)
    assert bad_poll.returncode == 2 and "poll" in bad_poll.stderr
    fake.inject(outage_seconds=60)
    pending_thread = f"comp-{uuid.uuid4().hex[:8]}"
    failed = run(
        start_run(
            "payer",
            {"payments": [{"reference": f"R-{uuid.uuid4().hex[:8]}", "amount": "3.00"}]},
            thread_id=pending_thread,
            db_url=db_url,
        )
    )
    assert failed.status == "failed"
    pending = _footprint(db_url, pending_thread)
    still = waypoint_cli("compensate", pending_thread, "--reason", "x", "--db", db_url)
    assert still.returncode == 2 and "relay" in still.stderr
    unconfigured = waypoint_cli(
        "relay", "--once", "--db", db_url, unset=("WAYPOINT_PROVIDER_PAYMENTS_URL",)
    )
    assert unconfigured.returncode == 2, unconfigured.stderr
    assert "WAYPOINT_PROVIDER_PAYMENTS_URL" in unconfigured.stderr
    assert _footprint(db_url, pending_thread) == pending
    fake.inject(outage_seconds=0)


def test_a_workflow_routes_to_compensation_once_also_when_retried(
    db_url: str, fake: FakePayments
) -> None:
    thread = f"comp-{uuid.uuid4().hex[:8]}"
    refs = [f"R-{uuid.uuid4().hex[:10]}" for _ in range(2)]
    payments = [{"reference": r, "amount": "6.00"} for r in refs]
    # faults on the way (5xx twice, then applied with the answer dropped): retries repeat nothing
    fake.inject("error_before", "error_before", "drop_after_apply")
    done = run(
        start_run("payer", {"payments": payments, "revoke": True}, thread_id=thread, db_url=db_url)
    )
    assert done.status == "completed", done.values
    assert len(done.values["reversed"]) in (1, 2)  # a retry reports what it delivered itself
    for ref in refs:
        assert fake.applied(ref) == {"payments": 1, "reversals": 1}
    audit = query(
        db_url, "SELECT actor, reason FROM waypoint_compensations WHERE thread_id = ?", (thread,)
    )
    assert audit and all(a["reason"] == "revoked by the input" for a in audit)

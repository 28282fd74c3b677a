"""The fake payment service (a test double of another system): idempotency keys and faults."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from waypoint.fakes.payments import FakePayments, applied, start_in_thread


@pytest.fixture
def fake(tmp_path: Path) -> Any:
    service = start_in_thread(tmp_path / "ledger.sqlite")
    yield service
    service.stop()


def _post(
    url: str, path: str, body: dict[str, Any], key: str | None, **headers: str
) -> tuple[int, dict[str, Any]]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    sent = {"Content-Type": "application/json", **headers}
    if key is not None:
        sent["Idempotency-Key"] = key
    conn.request("POST", path, json.dumps(body), sent)
    answer = conn.getresponse()
    return answer.status, json.loads(answer.read())


def test_same_key_same_answer_other_body_422(fake: FakePayments) -> None:
    body = {"amount": "25.00", "currency": "USD", "reference": "O-1"}
    first = _post(fake.url, "/payments", body, "k1")
    again = _post(fake.url, "/payments", body, "k1")
    assert first[0] == 201 and first == again
    assert _post(fake.url, "/payments", {**body, "amount": "26.00"}, "k1")[0] == 422
    assert _post(fake.url, "/payments", body, None)[0] == 400
    assert _post(fake.url, "/payments", {"amount": "x"}, "k2")[0] == 400
    declined = _post(fake.url, "/payments", {**body, "amount": "20000"}, "k3")
    assert (
        declined[0] == 402
        and _post(fake.url, "/payments", {**body, "amount": "20000"}, "k3")[0] == 402
    )
    assert fake.applied() == {"payments": 1, "reversals": 0}
    reversal = _post(fake.url, "/reversals", {"payment": first[1]["id"]}, "r1")
    assert reversal[0] == 201 and reversal[1]["amount"] == "25.00"
    assert _post(fake.url, "/reversals", {"payment": first[1]["id"]}, "r1") == reversal
    assert _post(fake.url, "/reversals", {"payment": first[1]["id"]}, "r2")[0] == 400
    assert _post(fake.url, "/reversals", {"payment": "pay_nope"}, "r3")[0] == 404
    assert fake.applied("O-1") == {"payments": 1, "reversals": 1}


def test_faults_apply_or_not_as_named(fake: FakePayments) -> None:
    body = {"amount": "5.00", "reference": "F"}
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        _post(fake.url, "/payments", body, "d1", **{"X-Fake-Fault": "drop_after_apply"})
    assert fake.applied("F")["payments"] == 1  # applied, never answered
    assert _post(fake.url, "/payments", body, "d1")[0] == 201  # the retry gets the answer
    fake.inject("error_before", "error_after_apply")
    assert _post(fake.url, "/payments", body, "e1")[0] == 503
    assert fake.applied("F")["payments"] == 1
    assert _post(fake.url, "/payments", body, "e1")[0] == 500
    assert fake.applied("F")["payments"] == 2
    assert _post(fake.url, "/payments", body, "e1")[0] == 201
    fake.inject(outage_seconds=0.3)
    assert _post(fake.url, "/payments", body, "o1")[0] == 503
    time.sleep(0.35)
    assert _post(fake.url, "/payments", body, "o1")[0] == 201
    with pytest.raises(TimeoutError):
        parts = urlsplit(fake.url)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=0.2)
        conn.request(
            "POST",
            "/payments",
            json.dumps(body),
            {"Idempotency-Key": "s1", "X-Fake-Fault": "slow:1"},
        )
        conn.getresponse()
    assert fake.applied("F")["payments"] == 4  # the slow one applied before answering late


def test_runs_as_a_module(tmp_path: Path) -> None:
    db = tmp_path / "ledger.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "waypoint.fakes.payments", "--port", "0", "--db", str(db)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        assert _post(url, "/payments", {"amount": "1.00"}, "m1")[0] == 201
        assert applied(db) == {"payments": 1, "reversals": 0}
    finally:
        proc.terminate()
        proc.wait(timeout=10)

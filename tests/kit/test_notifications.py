"""Webhooks: a question or a halt is queued once per endpoint, signed, retried until 2xx."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import waypoint_cli
from tests.helpers import run, sqlite_path
from waypoint.runner import resume_thread, start_run

SECRET = "test-secret"


class _Receiver:
    """A local endpoint that fails each event's first delivery, then accepts."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.seen: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                event = self.headers["X-Waypoint-Event"]
                first = event not in receiver.seen
                receiver.seen.add(event)
                self.send_response(503 if first else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                del args

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Receiver]:
    endpoint = _Receiver()
    monkeypatch.setenv("WAYPOINT_WEBHOOK_URLS", endpoint.url)
    monkeypatch.setenv("WAYPOINT_WEBHOOK_SECRET", SECRET)
    yield endpoint
    endpoint.server.shutdown()


def test_waiting_and_halted_threads_are_notified_once(db_url: str, receiver: _Receiver) -> None:
    asking, failing = (f"plain-{uuid.uuid4().hex[:8]}" for _ in range(2))
    run(start_run("plain", {"steps": ["ask"]}, thread_id=asking, db_url=db_url))
    run(start_run("plain", {"steps": ["fail"]}, thread_id=failing, db_url=db_url))

    sent = waypoint_cli("notify", "--db", db_url, "--json")
    assert sent.returncode == 0, sent.stderr
    delivered = [d for d in json.loads(sent.stdout)["delivered"] if asking in d or failing in d]
    assert len(delivered) == 2  # each after one refused try
    mine = [(h, b) for h, b in receiver.received if asking.encode() in b or failing.encode() in b]
    assert len(mine) == 4
    events = {json.loads(body)["event"]: json.loads(body) for _, body in mine}
    assert events["waiting"]["thread_id"] == asking and events["waiting"]["kind"] == "question"
    assert events["halted"]["thread_id"] == failing
    for headers, body in mine:
        expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Waypoint-Signature"] == f"sha256={expected}"
        assert headers["X-Waypoint-Event"] == json.loads(body)["event_id"]

    run(resume_thread(asking, {"answer": "yes"}, db_url=db_url))  # answered: nothing new
    again = waypoint_cli("notify", "--db", db_url, "--json")
    assert again.returncode == 0, again.stderr
    assert not [d for d in json.loads(again.stdout)["delivered"] if asking in d or failing in d]
    assert len([b for _, b in receiver.received if asking.encode() in b]) == 2


def test_a_question_near_its_deadline_is_announced_once(
    sqlite_url: str, receiver: _Receiver
) -> None:
    thread = f"near-{uuid.uuid4().hex[:8]}"
    asked = run(start_run("deadlines", {"seconds": 600}, thread_id=thread, db_url=sqlite_url))
    [question] = asked.interrupts
    swept = waypoint_cli("sweep", "--db", sqlite_url, "--json")
    assert swept.returncode == 0, swept.stderr
    assert json.loads(swept.stdout)["warned"] == []  # 600 s left of 600
    # the question has waited 510 of its 600 s: less than a fifth of its time is left (90 s,
    # so a slow machine's two sweeps still come before the deadline)
    with closing(sqlite3.connect(sqlite_path(sqlite_url))) as conn, conn:
        conn.execute(
            "UPDATE waypoint_handoffs SET asked_at = ?, deadline_at = ? WHERE handoff_id = ?",
            (_ago(510), _ago(-90), question.id),
        )
    for _ in range(2):  # a second sweep queues nothing new
        swept = waypoint_cli("sweep", "--db", sqlite_url, "--json")
        assert swept.returncode == 0, swept.stderr
        result = json.loads(swept.stdout)
        assert result["warned"] == [question.id] and result["applied"] == []
    sent = waypoint_cli("notify", "--db", sqlite_url, "--json")
    assert sent.returncode == 0, sent.stderr
    bodies = [json.loads(b) for _, b in receiver.received if thread.encode() in b]
    near = [b for b in bodies if b["event"] == "deadline_near"]
    assert len(near) == 2  # one refused try, then delivered: one event
    assert {b["event_id"] for b in near} == {f"{thread}:deadline_near:{question.id}"}
    assert near[0]["interrupt_id"] == question.id and near[0]["kind"] == "ship_order"


def _ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()

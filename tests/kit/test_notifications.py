"""Webhooks: a question or a halt is queued once per endpoint, signed, retried until 2xx."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import waypoint_cli
from tests.helpers import run
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

"""The server runs the outbox relay and webhook delivery itself (`waypoint.server.workers`).

A real `langgraph dev` process, the FAKE payment service and a local webhook receiver: an
effect left pending in the outbox (its provider was down) is delivered by the server once the
provider is back, and a queued notification is posted, with nobody running `waypoint relay`
or `waypoint notify`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.e2e.servers import Server, Users, start_langgraph_dev
from waypoint.fakes.payments import FakePayments, start_in_thread
from waypoint.notifications import event_statements
from waypoint.outbox import DeliveryPending, call_once
from waypoint.persistence.side_effects import effect_key
from waypoint.persistence.stores import open_stores

pytestmark = pytest.mark.timeout(180)


class _Hooks:
    def __init__(self) -> None:
        self.events: list[str] = []
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                hooks.events.append(self.headers["X-Waypoint-Event"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                del args

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakePayments]:
    service = start_in_thread(tmp_path_factory.mktemp("fake") / "ledger.sqlite")
    yield service
    service.stop()


@pytest.fixture(scope="module")
def hooks() -> Iterator[_Hooks]:
    receiver = _Hooks()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('workers-db') / 'waypoint.sqlite'}"


@pytest.fixture(scope="module")
def server(
    fake: FakePayments, hooks: _Hooks, db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    env = {
        "WAYPOINT_API_KEYS": Users().api_keys,
        "WAYPOINT_DB_URL": db_url,
        "WAYPOINT_PROVIDER_PAYMENTS_URL": fake.url,
        "WAYPOINT_PROVIDER_PAYMENTS_TIMEOUT": "1",
        "WAYPOINT_WEBHOOK_URLS": hooks.url,
        "WAYPOINT_WEBHOOK_SECRET": "s3cret",
        "WAYPOINT_NOTIFY_SECONDS": "0.5",
    }
    dev = start_langgraph_dev(env=env, log_dir=tmp_path_factory.mktemp("workers-logs"))
    yield dev
    dev.stop()


async def _left_pending(db_url: str, ref: str) -> None:
    async with open_stores(db_url) as stores:
        with pytest.raises(DeliveryPending):
            await call_once(
                provider="payments",
                path="/payments",
                body={"amount": "7.00", "currency": "USD", "reference": ref},
                key=effect_key("kit.payment", ref),
                kind="kit.payment",
                db=stores.db,
                thread_id=f"workers-{ref}",
            )
        await stores.db.execute(
            "UPDATE waypoint_outbox SET next_attempt_at = 0 WHERE status = 'pending'"
        )


async def _queue_event(db_url: str, thread: str) -> None:
    async with open_stores(db_url) as stores:
        await stores.db.batch(event_statements(thread, "support", "halted", "now"))


def _until(check: Any, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_the_server_relays_pending_effects_and_posts_webhooks(
    server: Server,
    fake: FakePayments,
    hooks: _Hooks,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WAYPOINT_PROVIDER_PAYMENTS_URL", fake.url)
    monkeypatch.setenv("WAYPOINT_WEBHOOK_URLS", hooks.url)
    ref = f"W-{time.time_ns()}"
    fake.inject(outage_seconds=60)
    asyncio.run(_left_pending(db_url, ref))
    assert fake.applied(ref)["payments"] == 0
    fake.inject(outage_seconds=0)  # the provider is back: the server's relay delivers it
    assert _until(lambda: fake.applied(ref)["payments"] == 1), server.log_tail()
    time.sleep(1.5)  # later passes of the relay never pay it again
    assert fake.applied(ref)["payments"] == 1

    thread = f"workers-{time.time_ns()}"
    asyncio.run(_queue_event(db_url, thread))
    assert _until(lambda: f"{thread}:halted:now" in hooks.events), server.log_tail()
    time.sleep(1.2)  # delivered once: later passes post nothing
    assert hooks.events.count(f"{thread}:halted:now") == 1
    assert server.alive()

"""Webhooks: tell people when a thread starts waiting for them or halts.

Endpoints come from `WAYPOINT_WEBHOOK_URLS` (comma-separated); bodies are signed with
`WAYPOINT_WEBHOOK_SECRET` (HMAC-SHA256, header `X-Waypoint-Signature: sha256=HEX`), and carry
their event id (`X-Waypoint-Event`) so a receiver can drop a repeat. With no endpoint set,
nothing is written.

An event is queued in the same round trip as the thread index (`waypoint_notifications`, one row
per event and endpoint: queued at most once) and logged. `waypoint notify` delivers the queue:
each row until its endpoint answers 2xx, retried with backoff on errors, never again after that.
The body names the thread, the graph, the event and the question's kind; no state values.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from waypoint.json_records import JsonRecord
from waypoint.persistence.sql import Database, Statement

logger = logging.getLogger("waypoint.notifications")

MAX_ATTEMPTS = 8
"""Deliveries of one event to one endpoint before it is given up (and logged)."""


def endpoints() -> list[str]:
    """The webhook URLs this process notifies."""
    raw = os.environ.get("WAYPOINT_WEBHOOK_URLS", "")
    return [url.strip() for url in raw.split(",") if url.strip()]


def sign(body: bytes, secret: str) -> str:
    """The signature header value of a body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def event_statements(
    thread_id: str, graph: str, event: str, ref: str, extra: dict[str, Any] | None = None
) -> list[Statement]:
    """Queue event `event` (unique per thread and `ref`) for every endpoint; [] without any."""
    urls = endpoints()
    if not urls:
        return []
    event_id = f"{thread_id}:{event}:{ref}"
    now = datetime.now(UTC).isoformat()
    body = json.dumps(
        {"event": event, "event_id": event_id, "thread_id": thread_id, "graph": graph,
         "at": now, **(extra or {})},
        sort_keys=True,
    )  # fmt: skip
    logger.info("notify: %s %s (%s) to %d endpoint(s)", event, thread_id, graph, len(urls))
    return [
        (
            "INSERT INTO waypoint_notifications (event_id, endpoint, body, queued_at, attempts) "
            "VALUES (:event_id, :endpoint, :body, :now, 0) "
            "ON CONFLICT (event_id, endpoint) DO NOTHING",
            {"event_id": event_id, "endpoint": url, "body": body, "now": now},
        )
        for url in urls
    ]


@dataclass
class Delivery(JsonRecord):
    """What one `deliver` pass did."""

    delivered: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    given_up: list[str] = field(default_factory=list)


def _post(url: str, body: bytes, event_id: str, timeout: float) -> int:
    headers = {"Content-Type": "application/json", "X-Waypoint-Event": event_id}
    secret = os.environ.get("WAYPOINT_WEBHOOK_SECRET")
    if secret:
        headers["X-Waypoint-Signature"] = sign(body, secret)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, TimeoutError, OSError):
        return 0


async def deliver(
    db: Database, *, rounds: int = 3, backoff: float = 0.5, timeout: float = 5.0
) -> Delivery:
    """Post every queued notification; retry failures up to `rounds` times with backoff."""
    import asyncio

    result = Delivery()
    for round_number in range(rounds):
        rows: Sequence[dict[str, Any]] = await db.fetchall(
            "SELECT event_id, endpoint, body, attempts FROM waypoint_notifications "
            "WHERE delivered_at IS NULL AND attempts < :most ORDER BY queued_at",
            {"most": MAX_ATTEMPTS},
        )
        if not rows:
            break
        if round_number:
            await asyncio.sleep(backoff * 2 ** (round_number - 1))
        for row in rows:
            event_id, url = str(row["event_id"]), str(row["endpoint"])
            began = time.monotonic()
            status = await asyncio.to_thread(
                _post, url, str(row["body"]).encode(), event_id, timeout
            )
            ok = 200 <= status < 300
            await db.execute(
                "UPDATE waypoint_notifications SET attempts = attempts + 1, last_status = :status, "
                "delivered_at = CASE WHEN :ok = 1 THEN :now ELSE delivered_at END "
                "WHERE event_id = :event_id AND endpoint = :endpoint",
                {"status": status, "ok": int(ok), "now": datetime.now(UTC).isoformat(),
                 "event_id": event_id, "endpoint": url},
            )  # fmt: skip
            label = f"{event_id} -> {url}"
            if ok:
                result.delivered.append(label)
            elif int(row["attempts"]) + 1 >= MAX_ATTEMPTS:
                result.given_up.append(label)
                logger.warning("notify: gave up on %s after %d tries", label, MAX_ATTEMPTS)
            else:
                result.failed.append(label)
                logger.info(
                    "notify: %s answered %s in %.0f ms; retried",
                    label,
                    status or "no answer",
                    (time.monotonic() - began) * 1000,
                )
    return result

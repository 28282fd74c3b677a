"""A FAKE payment service: a small local HTTP server for tests, the demo and benchmarks.

It is not a payment system. It stands in for one (Stripe-like) so that external effects can be
exercised for real: over HTTP, in another thread or process, with its own ledger.

- `POST /payments` `{"amount": "25.00", "currency": "USD", "reference": "..."}` → 201 and the
  payment (`{"id": "pay_…", "status": "succeeded", ...}`). An amount above `DECLINE_ABOVE`
  is declined: 402 `card_declined` (a refusal, remembered like a success).
- `POST /reversals` `{"payment": "pay_…", "amount": "25.00"}` → 201 and the reversal; an
  unknown payment → 404, a payment already reversed (under another key) → 400.
- Every POST needs an `Idempotency-Key` header. The same key returns the same answer (status
  and body) without applying anything again; the same key with another path or body → 422.
  Malformed requests (400 before anything ran) are not remembered.
- `GET /_ledger` → what was applied; the ledger is an SQLite file (`db`), so tests can count
  applied payments in it directly (`applied`).
- Faults, for the next requests (`POST /_faults {"next": [...], "outage_seconds": S}`) or for
  one request (header `X-Fake-Fault`):
  `drop_after_apply` (apply, then close the connection without answering),
  `error_after_apply` (apply, then answer 500), `error_before` (answer 503, apply nothing),
  `slow:S` (apply, then answer after S seconds: a client with a shorter timeout sees a timeout),
  and an outage (every POST answers 503 for S seconds).

Run it with `python -m waypoint.fakes.payments --port N --db FILE`, or in a thread with
`start_in_thread(db)`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import threading
import time
import uuid
from collections import deque
from contextlib import closing, suppress
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DECLINE_ABOVE = Decimal("10000.00")
"""Payments above this amount are declined (402): a refusal tests can route on."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    idempotency_key TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    answer TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS payments (
    payment_id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    reference TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS reversals (
    reversal_id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL,
    payment_id TEXT NOT NULL UNIQUE,
    amount TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""


class _Refusal(Exception):
    """A request the service refuses with `status` and an error body."""

    def __init__(self, status: int, code: str, message: str, *, remembered: bool) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.remembered = remembered


def _amount(body: dict[str, Any]) -> Decimal:
    try:
        value = Decimal(str(body["amount"]))
    except (KeyError, InvalidOperation):
        raise _Refusal(
            400, "invalid_amount", "amount: a decimal string", remembered=False
        ) from None
    if not value.is_finite() or value <= 0:
        raise _Refusal(400, "invalid_amount", "amount: must be positive", remembered=False)
    return value.quantize(Decimal("0.01"))


@dataclass
class _Faults:
    next: deque[str] = field(default_factory=deque)
    outage_until: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, header: str | None) -> str | None:
        if header:
            return header
        with self.lock:
            if time.monotonic() < self.outage_until:
                return "error_before"
            return self.next.popleft() if self.next else None


class PaymentLedger:
    """The fake's own ledger (an SQLite file): answers by key, payments, reversals."""

    def __init__(self, path: Path) -> None:
        """Open (creating) the ledger at `path`."""
        self.path = path
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def handle(self, path: str, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Apply one request once per key; the stored answer for a key seen before."""
        digest = hashlib.sha256(
            json.dumps([path, body], sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        with self._lock:
            seen = self._conn.execute(
                "SELECT path, body_hash, status, answer FROM answers WHERE idempotency_key = ?",
                (key,),
            ).fetchone()
            if seen is not None:
                if seen["body_hash"] != digest:
                    return 422, _error(
                        "idempotency_key_reused",
                        f"Idempotency-Key {key!r} was used with another request "
                        f"({seen['path']}); use a new key for a new request",
                    )
                return int(seen["status"]), dict(json.loads(seen["answer"]))
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                try:
                    status, answer = 201, self._apply(path, key, body)
                except _Refusal as refused:
                    if not refused.remembered:
                        self._conn.execute("ROLLBACK")
                        return refused.status, _error(refused.code, str(refused))
                    status, answer = refused.status, _error(refused.code, str(refused))
                self._conn.execute(
                    "INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?)",
                    (key, path, digest, status, json.dumps(answer), time.time()),
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            return status, answer

    def _apply(self, path: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
        if path == "/payments":
            amount = _amount(body)
            currency = str(body.get("currency", "USD"))
            reference = str(body.get("reference", ""))
            if amount > DECLINE_ABOVE:
                raise _Refusal(402, "card_declined", f"{amount} declined", remembered=True)
            payment_id = f"pay_{uuid.uuid4().hex[:16]}"
            self._conn.execute(
                "INSERT INTO payments VALUES (?, ?, ?, ?, ?, ?)",
                (payment_id, key, str(amount), currency, reference, time.time()),
            )
            return {
                "id": payment_id,
                "object": "payment",
                "amount": str(amount),
                "currency": currency,
                "reference": reference,
                "status": "succeeded",
            }
        if path == "/reversals":
            payment_id = str(body.get("payment", ""))
            paid = self._conn.execute(
                "SELECT amount FROM payments WHERE payment_id = ?", (payment_id,)
            ).fetchone()
            if paid is None:
                raise _Refusal(
                    404, "no_such_payment", f"no payment {payment_id!r}", remembered=False
                )
            amount = _amount(body) if "amount" in body else Decimal(paid["amount"])
            if amount > Decimal(paid["amount"]):
                raise _Refusal(400, "amount_too_large", "more than was paid", remembered=True)
            if self._conn.execute(
                "SELECT 1 FROM reversals WHERE payment_id = ?", (payment_id,)
            ).fetchone():
                raise _Refusal(400, "already_reversed", f"{payment_id} reversed", remembered=True)
            reversal_id = f"rev_{uuid.uuid4().hex[:16]}"
            self._conn.execute(
                "INSERT INTO reversals VALUES (?, ?, ?, ?, ?)",
                (reversal_id, key, payment_id, str(amount), time.time()),
            )
            return {
                "id": reversal_id,
                "object": "reversal",
                "payment": payment_id,
                "amount": str(amount),
                "status": "succeeded",
            }
        raise _Refusal(404, "not_found", f"no endpoint {path}", remembered=False)

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """Every applied payment and reversal."""
        with self._lock:
            return {
                table: [dict(r) for r in self._conn.execute(f"SELECT * FROM {table}")]
                for table in ("payments", "reversals")
            }

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._conn.close()


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def applied(db: Path | str, reference: str | None = None) -> dict[str, int]:
    """How many payments and reversals the ledger at `db` holds (by payment reference)."""
    with closing(sqlite3.connect(db)) as conn:
        where, args = ("WHERE reference = ?", (reference,)) if reference is not None else ("", ())
        payments = conn.execute(f"SELECT count(*) FROM payments {where}", args).fetchone()[0]
        reversals = conn.execute(
            "SELECT count(*) FROM reversals WHERE payment_id IN "
            f"(SELECT payment_id FROM payments {where})",
            args,
        ).fetchone()[0]
    return {"payments": int(payments), "reversals": int(reversals)}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the fake's callers are tests."""

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw)
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def do_GET(self) -> None:
        """`/_ledger`: the applied payments and reversals."""
        if self.path == "/_ledger":
            self._send(200, self.server.ledger.snapshot())
        elif self.path == "/_health":
            self._send(200, {"ok": True})
        else:
            self._send(404, _error("not_found", self.path))

    def do_POST(self) -> None:
        """`/payments`, `/reversals`, and `/_faults` (the fault plan)."""
        body = self._body()
        if body is None:
            self._send(400, _error("invalid_json", "the body must be a JSON object"))
            return
        if self.path == "/_faults":
            faults = self.server.faults
            with faults.lock:
                faults.next.extend(str(f) for f in body.get("next", []))
                if "outage_seconds" in body:
                    faults.outage_until = time.monotonic() + float(body["outage_seconds"])
            self._send(200, {"queued": len(faults.next)})
            return
        key = self.headers.get("Idempotency-Key")
        if not key:
            self._send(400, _error("missing_idempotency_key", "send an Idempotency-Key header"))
            return
        fault = self.server.faults.take(self.headers.get("X-Fake-Fault"))
        if fault == "error_before":
            self._send(503, _error("unavailable", "fault injected: nothing applied"))
            return
        status, answer = self.server.ledger.handle(self.path, key, body)
        if fault == "drop_after_apply":
            self.close_connection = True
            self.connection.close()  # applied, never answered
            return
        if fault == "error_after_apply":
            self._send(500, _error("internal", "fault injected: applied, then failed"))
            return
        if fault and fault.startswith("slow:"):
            time.sleep(float(fault.split(":", 1)[1]))
        with suppress(OSError):  # the caller gave up (a timeout) or died
            self._send(status, answer)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, ledger: PaymentLedger) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.ledger = ledger
        self.faults = _Faults()


@dataclass
class FakePayments:
    """A running fake payment service (in a thread of this process)."""

    url: str
    """Its base URL, e.g. `http://127.0.0.1:53124`."""
    db: Path
    """Its ledger file."""
    _server: _Server

    def inject(self, *faults: str, outage_seconds: float | None = None) -> None:
        """Queue faults for the next requests (and/or start an outage of 503s)."""
        with self._server.faults.lock:
            self._server.faults.next.extend(faults)
            if outage_seconds is not None:
                self._server.faults.outage_until = time.monotonic() + outage_seconds

    def applied(self, reference: str | None = None) -> dict[str, int]:
        """Payments and reversals applied so far (of one payment reference)."""
        return applied(self.db, reference)

    def stop(self) -> None:
        """Stop serving and close the ledger."""
        self._server.shutdown()
        self._server.server_close()
        self._server.ledger.close()


def start_in_thread(db: Path | str) -> FakePayments:
    """Start the fake on 127.0.0.1 (any free port) in a daemon thread; its handle.

    `handle.url` is the base URL to give callers (`WAYPOINT_PROVIDER_PAYMENTS_URL`).
    """
    server = _Server(0, PaymentLedger(Path(db)))
    threading.Thread(target=server.serve_forever, name="fake-payments", daemon=True).start()
    host, bound = server.server_address[:2]
    return FakePayments(url=f"http://{host!s}:{bound}", db=Path(db), _server=server)


def main(argv: list[str] | None = None) -> None:
    """`python -m waypoint.fakes.payments --port N --db FILE`: serve until interrupted."""
    parser = argparse.ArgumentParser(description="A FAKE payment service (tests and demos only).")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--db", type=Path, default=Path(".waypoint/fake-payments.sqlite"))
    args = parser.parse_args(argv)
    args.db.parent.mkdir(parents=True, exist_ok=True)
    server = _Server(args.port, PaymentLedger(args.db))
    host, port = server.server_address[:2]
    sys.stdout.write(f"fake payments (a FAKE, for tests and demos) on http://{host!s}:{port}\n")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()

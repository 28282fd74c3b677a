"""Effects on other systems, exactly once: a transactional outbox, a relay, compensations.

A node calls another system (a payment provider) with `call_once`:

1. In one transaction of the run's database it enqueues the call (provider, path, JSON body)
   under the effect's business key, with the node's own writes (`with_writes`) and the run's
   fencing check. Enqueueing a key again does nothing: the row is the effect.
2. It sends the call with the key as the provider's `Idempotency-Key` (Stripe-style: the
   provider applies a key once and answers it again the same way), and records the answer in
   the row: `delivered` (2xx) or `refused` (4xx: the provider said no; the node routes on it).
3. A transient failure (a dropped connection, a timeout, 5xx, 409, 429) leaves the row
   `pending` and raises `DeliveryPending`, which the node's failure ladder retries
   (LangGraph's `RetryPolicy` with `retry_on`). A crash anywhere re-runs the node, which finds
   the row and sends it again under the same key, so the provider applies it once.

`waypoint relay` (`relay`) delivers rows left pending (their node gave up after its retries or
its process died and nobody resumed it) with exponential backoff; the thread, resumed, finds the
answer recorded. An effect may declare its `Compensation` (a payment → its reversal);
`waypoint compensate THREAD --reason` (`compensate_thread`) enqueues and delivers the
compensations of a thread's delivered effects in reverse order, each under its own key, audited.

Providers are named; their base URLs come from `WAYPOINT_PROVIDER_<NAME>_URL` or
`[providers.<name>] url` in `waypoint.toml` (`provider_endpoint`).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from langgraph.config import get_config

from waypoint.actors import acting_user
from waypoint.config import ProviderEndpoint, load_config
from waypoint.errors import BadInput, WaypointError
from waypoint.faults import pause_point
from waypoint.guards import current_guard
from waypoint.persistence.side_effects import EffectRefused, effect_key
from waypoint.persistence.sql import Database, Executor, Row
from waypoint.persistence.stores import database_for_run
from waypoint.persistence.writer_fence import current_fence, current_fence_sql, taken_over

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})
"""4xx answers that are not a refusal: the provider asks to try again (409: a request with
the same key is still in progress)."""

NODE_GRACE_SECONDS = 5.0
"""A row a node just enqueued is the node's to send first; the relay waits this long."""

_ANSWER_FIELD = re.compile(r"^\{answer\.([A-Za-z_][\w.]*)\}$")


class DeliveryPending(ConnectionError):
    """The call did not get a final answer (dropped, timed out, 5xx, 409, 429); retry it.

    A `ConnectionError`, so the kit's `retry_on` retries it. The outbox row stays `pending`
    under its key: a retry, a resumed thread or `waypoint relay` sends it again, and the
    provider applies the key once.
    """

    def __init__(self, key: str, provider: str, reason: str) -> None:
        """Say which effect is pending and why."""
        super().__init__(
            f"{provider}: no final answer for effect {key} ({reason}); it stays pending in the "
            "outbox and is sent again under the same key (a retry, `waypoint resume`, or "
            "`waypoint relay`)"
        )
        self.key = key
        self.provider = provider


class ProviderNotConfigured(BadInput, LookupError):
    """No base URL is configured for a provider the outbox must call.

    A `LookupError` too, so a node's retry policy (`retry_on`) does not retry it: the
    configuration has to change first.
    """


@dataclass(frozen=True)
class Compensation:
    """The call that undoes an effect (a payment → its reversal), declared with the effect.

    String values of `body` of the exact form `"{answer.FIELD}"` are replaced by that field of
    the effect's answer (e.g. `{"payment": "{answer.id}"}`).
    """

    path: str
    """The provider's endpoint for the compensating call, e.g. `/reversals`."""
    body: dict[str, Any]
    """Its JSON body, with `{answer.FIELD}` placeholders."""
    provider: str | None = None
    """Another provider than the effect's (None: the same one)."""
    local_undo: str | None = None
    """A name registered with `on_compensated`: what undoing the effect changes in this
    database (the order's refunded amount), run in the transaction that records the provider's
    confirmation, once. None: nothing local to put back."""

    def as_json(self) -> str:
        """How the outbox stores it."""
        spec: dict[str, Any] = {"path": self.path, "body": self.body, "provider": self.provider}
        if self.local_undo is not None:
            spec["local_undo"] = self.local_undo
        return json.dumps(spec, sort_keys=True)


@dataclass(frozen=True)
class CompensatedEffect:
    """An effect the provider confirmed undone, as a local-undo hook receives it."""

    key: str
    """The effect's business key."""
    kind: str
    thread_id: str
    body: dict[str, Any]
    """What was sent to make the effect."""
    answer: dict[str, Any]
    """The provider's answer to the effect."""
    reversal: dict[str, Any]
    """The provider's answer to the compensation."""


LocalUndo = Callable[[Executor, CompensatedEffect], Awaitable[None]]
"""Puts back what an effect changed in this database; runs in an open transaction."""

_LOCAL_UNDO: dict[str, LocalUndo] = {}


def on_compensated(name: str) -> Callable[[LocalUndo], LocalUndo]:
    """Register `name` as a local undo, for `Compensation(local_undo=name)`.

    The hook runs in the transaction that records the compensation's confirmed answer, so
    the local change and the record commit together, once (a second delivery of the same
    answer changes nothing). Example:

        @on_compensated("shop.refund_reversed")
        async def refund_reversed(tx: Executor, effect: CompensatedEffect) -> None:
            await tx.execute("UPDATE orders SET refunded = refunded - :a ...", {...})
    """

    def register(hook: LocalUndo) -> LocalUndo:
        _LOCAL_UNDO[name] = hook
        return hook

    return register


def _local_undo(name: str) -> LocalUndo:
    """The hook registered as `name`, importing the served workflows if it is not yet known.

    Raises:
        LookupError: no workflow registers it (the compensation stays pending, so nothing is
            recorded undone while its local part is not).
    """
    if name not in _LOCAL_UNDO:
        from waypoint.workflows import load_workflow, workflow_names

        for workflow in workflow_names():  # the hooks live beside the workflows' effects
            load_workflow(workflow)
    if name not in _LOCAL_UNDO:
        raise LookupError(f"no local undo named {name!r} is registered (`on_compensated`)")
    return _LOCAL_UNDO[name]


@dataclass(frozen=True)
class Delivery:
    """A provider's final answer to an effect, as recorded in the outbox."""

    key: str
    """The effect's business key (the provider's Idempotency-Key)."""
    status: Literal["delivered", "refused"]
    """`delivered`: 2xx, it happened. `refused`: 4xx, the provider said no; nothing happened."""
    http_status: int
    answer: dict[str, Any]
    """The provider's JSON answer."""
    replayed: bool
    """The answer was recorded before this call (a retry, a resume, a fork, the relay)."""

    @property
    def ok(self) -> bool:
        """Whether the effect happened."""
        return self.status == "delivered"


def _env_name(provider: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", provider).upper()


def provider_endpoint(provider: str) -> ProviderEndpoint:
    """Where `provider` is: `WAYPOINT_PROVIDER_<NAME>_URL` / `_TIMEOUT`, else `waypoint.toml`.

    Raises:
        ProviderNotConfigured: neither gives a URL (or the URL is not http(s)).
    """
    name = _env_name(provider)
    configured = load_config().providers.get(provider)
    url = os.environ.get(f"WAYPOINT_PROVIDER_{name}_URL") or (configured.url if configured else "")
    timeout_text = os.environ.get(f"WAYPOINT_PROVIDER_{name}_TIMEOUT")
    timeout = configured.timeout if configured else 10.0
    if timeout_text:
        try:
            timeout = float(timeout_text)
        except ValueError:
            raise ProviderNotConfigured(
                f"provider {provider}: WAYPOINT_PROVIDER_{name}_TIMEOUT={timeout_text!r} is not "
                "a number of seconds",
                field="providers",
            ) from None
    parts = urlsplit(url)
    if not url or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProviderNotConfigured(
            f"provider {provider}: no http(s) base URL (got {url!r}); set "
            f"WAYPOINT_PROVIDER_{name}_URL or [providers.{provider}] url in waypoint.toml",
            field="providers",
        )
    return ProviderEndpoint(url=url.rstrip("/"), timeout=timeout)


def _post(endpoint: ProviderEndpoint, path: str, body: str, key: str) -> tuple[int, dict[str, Any]]:
    parts = urlsplit(endpoint.url)
    connection_type = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = connection_type(parts.hostname or "", parts.port, timeout=endpoint.timeout)
    try:
        conn.request(
            "POST",
            f"{parts.path}{path}",
            body.encode(),
            {"Content-Type": "application/json", "Idempotency-Key": key},
        )
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    try:
        answer = json.loads(raw) if raw else {}
    except ValueError:
        answer = {"raw": raw[:2000].decode(errors="replace")}
    return response.status, answer if isinstance(answer, dict) else {"answer": answer}


async def send(
    provider: str, path: str, body: str, key: str
) -> tuple[Literal["delivered", "refused"], int, dict[str, Any]]:
    """POST `body` to `provider` under `Idempotency-Key: key`; its final answer.

    Raises:
        DeliveryPending: no final answer (connection, timeout, 5xx, 408/409/425/429).
        ProviderNotConfigured: the provider has no URL.
    """
    endpoint = provider_endpoint(provider)
    try:
        status, answer = await asyncio.to_thread(_post, endpoint, path, body, key)
    except (OSError, http.client.HTTPException) as exc:  # timeouts are OSErrors too
        raise DeliveryPending(key, provider, f"{type(exc).__name__}: {exc}") from exc
    if 200 <= status < 300:
        return "delivered", status, answer
    if status >= 500 or status in RETRYABLE_STATUSES:
        raise DeliveryPending(key, provider, f"HTTP {status}")
    return "refused", status, answer


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _seq() -> int:
    return time.time_ns()


def _delivery(row: Row, *, replayed: bool) -> Delivery:
    return Delivery(
        key=str(row["effect_key"]),
        status=row["status"],
        http_status=int(row["answer_status"]),
        answer=dict(json.loads(row["answer"] or "{}")),
        replayed=replayed,
    )


async def _record(
    db: Executor,
    key: str,
    outcome: Literal["delivered", "refused"],
    http_status: int,
    answer: dict[str, Any],
) -> tuple[Row, bool]:
    """Record a final answer on a pending row (the first one recorded wins).

    Returns the row, and whether this call recorded it (False: an earlier one had).
    """
    applied = await db.execute(
        "UPDATE waypoint_outbox SET status = :status, answer_status = :http, answer = :answer, "
        "attempts = attempts + 1, last_error = NULL, updated_at = :now "
        "WHERE effect_key = :key AND status = 'pending'",
        {
            "status": outcome,
            "http": http_status,
            "answer": json.dumps(answer, sort_keys=True),
            "now": _now(),
            "key": key,
        },
    )
    row = await db.fetchone("SELECT * FROM waypoint_outbox WHERE effect_key = :key", {"key": key})
    assert row is not None
    return row, applied == 1


def backoff(attempts: int, *, base: float = 0.2, cap: float = 30.0) -> float:
    """Seconds before attempt `attempts + 1`: exponential, capped, with jitter."""
    return float(min(cap, base * 2 ** max(attempts - 1, 0)) * random.uniform(0.5, 1.0))


async def record_failure(
    db: Executor, key: str, error: str, *, failures: int | None = None, cap: float = 5.0
) -> None:
    """Count a failed attempt on a pending row and put its next one off (backoff).

    The delay grows with `failures` (the caller's consecutive failures; default: the row's
    attempts) up to `cap` seconds.
    """
    row = await db.fetchone(
        "SELECT attempts FROM waypoint_outbox WHERE effect_key = :key", {"key": key}
    )
    attempts = int(row["attempts"]) + 1 if row else 1
    delay = backoff(failures or attempts, cap=cap)
    await db.execute(
        "UPDATE waypoint_outbox SET attempts = :attempts, last_error = :error, "
        "next_attempt_at = :next, updated_at = :now WHERE effect_key = :key "
        "AND status = 'pending'",
        {
            "attempts": attempts,
            "error": error[:1000],
            "next": time.time() + delay,
            "now": _now(),
            "key": key,
        },
    )


async def deliver(
    db: Database, row: Row, *, failures: int | None = None, cap: float = 5.0
) -> Delivery:
    """Send one pending row and record its final answer.

    Raises:
        DeliveryPending: no final answer this time (the failure is recorded, with a backoff
            that grows with `failures` up to `cap` seconds; see `record_failure`).
    """
    key = str(row["effect_key"])
    try:
        pause_point(f"outbox:{row['kind']}:before_send")
        outcome, http_status, answer = await send(row["provider"], row["path"], row["body"], key)
    except DeliveryPending as exc:
        await record_failure(db, key, str(exc), failures=failures, cap=cap)
        raise
    pause_point(f"outbox:{row['kind']}:before_record")
    undo = await _undo_of(db, row) if outcome == "delivered" else None
    if undo is None:
        recorded, _ = await _record(db, key, outcome, http_status, answer)
        return _delivery(recorded, replayed=False)
    hook, effect = undo
    try:
        async with db.transaction(lock_key=f"outbox:{key}") as tx:
            recorded, applied = await _record(tx, key, outcome, http_status, answer)
            if applied:  # the first record of this answer puts the local state back, once
                await hook(tx, CompensatedEffect(**{**effect, "reversal": answer}))
    except Exception as exc:  # rolled back: neither the answer nor the local part is recorded
        reason = f"its local undo failed: {type(exc).__name__}: {exc}"[:500]
        await record_failure(db, key, reason, failures=failures, cap=cap)
        raise DeliveryPending(key, str(row["provider"]), reason) from exc
    return _delivery(recorded, replayed=False)


async def _undo_of(db: Database, row: Row) -> tuple[LocalUndo, dict[str, Any]] | None:
    """For a compensation whose effect declares a local undo: the hook and the effect.

    Raises:
        DeliveryPending: the hook is not registered here (recorded as a failed attempt: the
            provider's answer is asked again later, under the same key).
    """
    if not row.get("compensates"):
        return None
    effect = await db.fetchone(
        "SELECT effect_key, kind, thread_id, body, answer, compensation FROM waypoint_outbox "
        "WHERE effect_key = :key",
        {"key": row["compensates"]},
    )
    spec = json.loads(effect["compensation"] or "{}") if effect else {}
    if effect is None or not spec.get("local_undo"):
        return None
    try:
        hook = _local_undo(str(spec["local_undo"]))
    except LookupError as exc:
        await record_failure(db, str(row["effect_key"]), str(exc))
        raise DeliveryPending(str(row["effect_key"]), str(row["provider"]), str(exc)) from exc
    return hook, {
        "key": str(effect["effect_key"]),
        "kind": str(effect["kind"]),
        "thread_id": str(effect["thread_id"]),
        "body": dict(json.loads(effect["body"] or "{}")),
        "answer": dict(json.loads(effect["answer"] or "{}")),
    }


def provider_configured(provider: str) -> bool:
    """Whether `provider` has a base URL (environment or `waypoint.toml`)."""
    try:
        provider_endpoint(provider)
    except ProviderNotConfigured:
        return False
    return True


async def enqueue_call(
    tx: Executor,
    *,
    provider: str,
    path: str,
    body: dict[str, Any],
    key: str,
    kind: str,
    thread_id: str,
    compensation: Compensation | None = None,
) -> bool:
    """Enqueue an external call in an open transaction (with the caller's writes); True if new.

    For a node whose own effect transaction (`perform_once`) must also hold the call: enqueue
    it there, then `call_once` with the same arguments sends it (or replays its answer).
    """
    inserted = await tx.execute(
        "INSERT INTO waypoint_outbox (effect_key, thread_id, kind, provider, path, body, "
        "compensation, status, next_attempt_at, seq, created_at, updated_at) VALUES "
        "(:key, :thread_id, :kind, :provider, :path, :body, :compensation, 'pending', "
        ":next, :seq, :now, :now) ON CONFLICT (effect_key) DO NOTHING",
        {
            "key": key,
            "thread_id": thread_id,
            "kind": kind,
            "provider": provider,
            "path": path,
            "body": json.dumps(body, sort_keys=True, separators=(",", ":")),
            "compensation": compensation.as_json() if compensation else None,
            "next": time.time() + NODE_GRACE_SECONDS,
            "seq": _seq(),
            "now": _now(),
        },
    )
    return inserted == 1


def _thread_of_run() -> str:
    configurable = get_config().get("configurable", {})
    thread_id = configurable.get("thread_id")
    return str(thread_id) if thread_id else "no-thread"


async def call_once(
    *,
    provider: str,
    path: str,
    body: dict[str, Any],
    key: str,
    kind: str,
    compensation: Compensation | None = None,
    with_writes: Callable[[Executor], Awaitable[None]] | None = None,
    db: Database | None = None,
    thread_id: str | None = None,
) -> Delivery:
    """Call another system once per `key`, through the outbox; its final answer.

    Make it the last thing a node does, after every check. `key` is the effect's business
    identity (`effect_key(kind, order, purpose)`), never the thread: it is also the provider's
    Idempotency-Key. `body` must be the same whenever the node runs again for this key (the
    provider refuses a key reused with another body). `with_writes` runs in the transaction
    that enqueues the call, only the first time (the node's own rows that go with it).

    Returns:
        The recorded answer: `delivered` (it happened) or `refused` (4xx: it did not; route
        on `delivery.ok`). `replayed` says it was recorded before this call.

    Raises:
        DeliveryPending: no final answer yet (retryable: give the node a `RetryPolicy` with
            `retry_on`); the row stays pending and is sent again under the same key.
        EffectRefused: `key` was enqueued before with another provider, path or body.
        ProviderNotConfigured: no URL for `provider` (nothing is enqueued).
        GuardHalt: the run's guard does not allow this kind of effect.
        ThreadTakenOver: another writer took this run's thread over; nothing was done.
    """
    provider_endpoint(provider)  # validate first: an unknown provider enqueues nothing
    guard = current_guard()
    if guard is not None:
        node = str(get_config().get("metadata", {}).get("langgraph_node", "?"))
        guard.allow_side_effect(kind, node)
    db = db or await database_for_run()
    thread_id = thread_id or _thread_of_run()
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    fence = current_fence(thread_id)
    async with db.transaction(lock_key=f"effect:{key}") as tx:
        row = await tx.fetchone(
            "SELECT (SELECT effect_key FROM waypoint_outbox WHERE effect_key = :key) AS known"
            + ("" if fence is None else f", {current_fence_sql(tx.kind)} AS fence"),
            {"key": key, "thread_id": thread_id},
        )
        if fence is not None and (row is None or row["fence"] != fence):
            raise await taken_over(tx, thread_id, fence)
        if row is None or row["known"] is None:
            await enqueue_call(
                tx,
                provider=provider,
                path=path,
                body=body,
                key=key,
                kind=kind,
                thread_id=thread_id,
                compensation=compensation,
            )
            if with_writes is not None:
                await with_writes(tx)
            pause_point(f"outbox:{kind}:before_enqueue_commit")
    current = await db.fetchone(
        "SELECT * FROM waypoint_outbox WHERE effect_key = :key", {"key": key}
    )
    assert current is not None
    if (current["provider"], current["path"], current["body"]) != (provider, path, text):
        raise EffectRefused(
            f"effect {key} was enqueued before as {current['provider']} {current['path']} "
            f"{current['body']}; now asked as {provider} {path} {text}: one key is one effect, "
            "give a different effect its own key"
        )
    if current["status"] != "pending":
        return _delivery(current, replayed=True)
    return await deliver(db, current)


def _fill(template: Any, answer: dict[str, Any], key: str) -> Any:
    if isinstance(template, str):
        match = _ANSWER_FIELD.match(template)
        if match is None:
            return template
        value: Any = answer
        for part in match.group(1).split("."):
            if not isinstance(value, dict) or part not in value:
                raise BadInput(
                    f"effect {key}: its compensation needs {template}, which its answer lacks",
                    field="compensation",
                )
            value = value[part]
        return value
    if isinstance(template, dict):
        return {k: _fill(v, answer, key) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, answer, key) for v in template]
    return template


def compensation_key(key: str) -> str:
    """The key of the compensation of effect `key` (its own business identity)."""
    return effect_key("compensation", key)


@dataclass
class CompensationReport:
    """What `compensate_thread` did."""

    thread_id: str
    request_id: str | None
    compensated: list[dict[str, Any]] = field(default_factory=list)
    """Each compensation, in the order delivered (the effects' reverse order)."""
    pending: list[str] = field(default_factory=list)
    """Compensations with no final answer yet (the relay or a re-run delivers them)."""
    refused: list[str] = field(default_factory=list)
    """Compensations the provider refused."""


class CompensationIncomplete(WaypointError):
    """Some compensations were not delivered (pending or refused); what was done is kept."""

    exit_code = 1


async def compensate_thread(
    db: Database,
    thread_id: str,
    *,
    reason: str,
    actor: str,
    attempts: int = 5,
    strict: bool = True,
) -> CompensationReport:
    """Undo a thread's delivered effects that declare a compensation, newest first, once each.

    Everything is checked before anything is written. Compensations are outbox rows of their
    own (key `compensation_key(effect)`), enqueued in one transaction with the audit row of
    this request (who, why); then each is delivered in turn, waiting out transient failures
    (`attempts` tries each). Run again after a crash, it delivers what is still pending.

    With `strict=False`, effects all compensated already is an empty report, not an error
    (a node that compensates, run again after a crash).

    Raises:
        BadInput: no such thread; nothing to compensate (no effect declares one, or all are
            compensated already); an effect is still pending (deliver it first).
    """
    known = await db.fetchone(
        "SELECT (SELECT thread_id FROM waypoint_threads WHERE thread_id = :t) AS thread, "
        "(SELECT count(*) FROM waypoint_outbox WHERE thread_id = :t) AS effects",
        {"t": thread_id},
    )
    if known is None or (known["thread"] is None and not known["effects"]):
        raise BadInput(f"thread: no thread {thread_id!r}", field="thread")
    effects = await db.fetchall(
        "SELECT * FROM waypoint_outbox WHERE thread_id = :t AND compensates IS NULL "
        "AND compensation IS NOT NULL ORDER BY seq DESC",
        {"t": thread_id},
    )
    if not effects:
        raise BadInput(
            f"thread: {thread_id} made no effect that declares a compensation; nothing to "
            "compensate",
            field="thread",
        )
    pending = [str(e["effect_key"]) for e in effects if e["status"] == "pending"]
    if pending:
        raise BadInput(
            f"thread: effect(s) {', '.join(pending)} of {thread_id} have no final answer yet; "
            "deliver them first (`waypoint relay --once`), then compensate",
            field="thread",
        )
    done = await db.fetchall(
        "SELECT effect_key, compensates, status FROM waypoint_outbox WHERE thread_id = :t "
        "AND compensates IS NOT NULL",
        {"t": thread_id},
    )
    existing = {str(r["compensates"]): str(r["status"]) for r in done}
    delivered = [e for e in effects if e["status"] == "delivered"]
    new: list[dict[str, Any]] = []
    for index, effect in enumerate(delivered):
        key = str(effect["effect_key"])
        if key in existing:
            continue
        spec = json.loads(effect["compensation"])
        body = _fill(spec["body"], json.loads(effect["answer"] or "{}"), key)
        provider = spec.get("provider") or effect["provider"]
        provider_endpoint(provider)  # validate before writing
        new.append(
            {
                "key": compensation_key(key),
                "thread_id": thread_id,
                "kind": f"{effect['kind']}.compensation",
                "provider": provider,
                "path": spec["path"],
                "body": json.dumps(body, sort_keys=True, separators=(",", ":")),
                "compensates": key,
                "seq": _seq() + index,  # newest effect first
                "actor": actor,
                "reason": reason,
            }
        )
    still_pending = [k for k, status in existing.items() if status == "pending"]
    if not new and not still_pending:
        if not strict:
            return CompensationReport(thread_id=thread_id, request_id=None)
        raise BadInput(
            f"thread: every effect of {thread_id} is compensated already (or was refused); "
            "nothing to compensate; see `waypoint audit`",
            field="thread",
        )
    report = CompensationReport(thread_id=thread_id, request_id=f"comp-{uuid.uuid4().hex[:12]}")
    async with db.transaction(lock_key=f"compensate:{thread_id}") as tx:
        now = _now()
        for row in new:
            await tx.execute(
                "INSERT INTO waypoint_outbox (effect_key, thread_id, kind, provider, path, body, "
                "compensates, status, next_attempt_at, seq, actor, reason, created_at, "
                "updated_at) VALUES (:key, :thread_id, :kind, :provider, :path, :body, "
                ":compensates, 'pending', :next, :seq, :actor, :reason, :now, :now) "
                "ON CONFLICT (effect_key) DO NOTHING",
                {**row, "next": time.time() + NODE_GRACE_SECONDS, "now": now},
            )
        await tx.execute(
            "INSERT INTO waypoint_compensations (request_id, thread_id, actor, reason, effects, "
            "requested_at) VALUES (:id, :t, :actor, :reason, :effects, :now)",
            {
                "id": report.request_id,
                "t": thread_id,
                "actor": actor,
                "reason": reason,
                "effects": json.dumps([r["compensates"] for r in new] + still_pending),
                "now": now,
            },
        )
    pause_point("compensate:after_enqueue")
    rows = await db.fetchall(
        "SELECT * FROM waypoint_outbox WHERE thread_id = :t AND compensates IS NOT NULL "
        "AND status = 'pending' ORDER BY seq",
        {"t": thread_id},
    )
    for row in rows:
        result = await _deliver_with_retries(db, row, attempts)
        if result is None:
            report.pending.append(str(row["compensates"]))
            break  # the older effects wait until the newer ones are undone
        entry = {"effect": row["compensates"], "key": row["effect_key"], "answer": result.answer}
        if result.ok:
            report.compensated.append(entry)
        else:
            report.refused.append(str(row["compensates"]))
    return report


async def compensate_run(
    reason: str, *, actor: str | None = None, attempts: int = 3
) -> CompensationReport:
    """From a node: undo this thread's effects, newest first, each once (`compensate_thread`).

    For a workflow that routes to compensation on a later failure or a human's revocation.
    Run again (a retry, a crash, a resume), it finishes what is pending and repeats nothing.
    The actor is the run's acting user unless given.

    Raises:
        DeliveryPending: a compensation got no final answer (retryable: the node's ladder
            retries it; what was delivered stays delivered).
        BadInput: the thread made no effect that declares a compensation, or one of its
            effects is still pending.
    """
    config = get_config()
    who = actor or acting_user(config) or "workflow"
    db = await database_for_run()
    thread_id = _thread_of_run()
    report = await compensate_thread(
        db, thread_id, reason=reason, actor=who, attempts=attempts, strict=False
    )
    if report.pending:
        raise DeliveryPending(report.pending[0], "compensation", "provider unavailable")
    return report


async def _deliver_with_retries(db: Database, row: Row, attempts: int) -> Delivery | None:
    for attempt in range(1, attempts + 1):
        try:
            return await deliver(db, row, failures=attempt)
        except DeliveryPending:
            if attempt < attempts:
                await asyncio.sleep(backoff(attempt))
    return None


@dataclass
class RelayReport:
    """What one `relay` pass (or run) did."""

    delivered: int = 0
    refused: int = 0
    failed_attempts: int = 0
    pending: int = 0
    """Rows still pending when it stopped."""


async def relay(
    db: Database,
    *,
    once: bool,
    attempts: int = 8,
    batch: int = 100,
    poll: float = 1.0,
    lease: float = 30.0,
    max_backoff: float = 30.0,
    stop: asyncio.Event | None = None,
) -> RelayReport:
    """Deliver pending outbox rows, oldest first, with retries and exponential backoff.

    Each row is claimed before it is sent (its next attempt put off by `lease` seconds), so
    several relays share the work; a relay killed mid-call leaves the claim to expire, and the
    next send of the same key gets the provider's recorded answer. With `once`, it drains:
    it stops when no row is pending, or when every pending row has failed `attempts` times in
    this run; otherwise it polls every `poll` seconds until `stop` is set. A row's backoff
    grows with its failures in this run, up to `max_backoff` seconds.

    Raises:
        ProviderNotConfigured: a pending row names a provider with no URL (nothing sent).
    """
    providers = await db.fetchall(
        "SELECT DISTINCT provider FROM waypoint_outbox WHERE status = 'pending'"
    )
    for row in providers:
        provider_endpoint(str(row["provider"]))  # validate first
    report = RelayReport()
    failures: dict[str, int] = {}
    while stop is None or not stop.is_set():
        now = time.time()
        due = await db.fetchall(
            "SELECT * FROM waypoint_outbox WHERE status = 'pending' AND next_attempt_at <= :now "
            "ORDER BY seq LIMIT :limit",
            {"now": now, "limit": batch},
        )
        due = [r for r in due if failures.get(str(r["effect_key"]), 0) < attempts or not once]
        for row in due:
            key = str(row["effect_key"])
            claimed = await db.execute(
                "UPDATE waypoint_outbox SET next_attempt_at = :lease WHERE effect_key = :key "
                "AND status = 'pending' AND next_attempt_at = :seen",
                {"lease": time.time() + lease, "key": key, "seen": row["next_attempt_at"]},
            )
            if claimed != 1:
                continue  # another relay (or the node) has it
            try:
                result = await deliver(db, row, failures=failures.get(key, 0) + 1, cap=max_backoff)
            except DeliveryPending:
                report.failed_attempts += 1
                failures[key] = failures.get(key, 0) + 1
                continue
            if result.ok:
                report.delivered += 1
            else:
                report.refused += 1
        if due:
            continue
        left = await db.fetchall(
            "SELECT effect_key, next_attempt_at FROM waypoint_outbox WHERE status = 'pending'"
        )
        report.pending = len(left)
        waiting = [r for r in left if failures.get(str(r["effect_key"]), 0) < attempts]
        if once and not waiting:
            break
        soonest = min((float(r["next_attempt_at"]) for r in waiting), default=now + poll)
        delay = max(0.01, min(poll, soonest - time.time()))
        if stop is None:
            await asyncio.sleep(delay)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
    return report

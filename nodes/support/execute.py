"""execute: pay and send, each exactly once under its business key, on facts read just now."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from langgraph.runtime import Runtime

import nodes.support.tables  # noqa: F401  (registers the payments and outbox tables)
from nodes.support.crm import (
    REFUND_REVERSED,
    payment_enqueued,
    read_customer,
    read_order,
    record_refund,
    refund_key,
    refund_paid,
)
from state.support import LookupResult, Resolution, SupportContext, SupportState
from waypoint import (
    Compensation,
    EffectRefused,
    Executor,
    call_once,
    effect_key,
    enqueue_call,
    perform_once,
    provider_configured,
    run_database,
    update,
)

PAYMENTS = "payments"
"""The payment provider refunds go to when one is configured (`WAYPOINT_PROVIDER_PAYMENTS_URL`
or `[providers.payments]`); without one, a refund is recorded in `support_payments` only."""


def payment_call(payment_key: str, order_id: str, amount: str, currency: str) -> dict[str, Any]:
    """The provider call that pays a refund (its body is the same whenever it is re-sent)."""
    return {
        "provider": PAYMENTS,
        "path": "/payments",
        "body": {"amount": amount, "currency": currency, "reference": payment_key},
        "key": payment_key,
        "kind": "support.payment",
        "compensation": Compensation(
            path="/reversals", body={"payment": "{answer.id}"}, local_undo=REFUND_REVERSED
        ),
    }


def _thread_id(runtime: Runtime[SupportContext]) -> str:
    info = runtime.execution_info
    return info.thread_id if info is not None and info.thread_id else "no-thread"


def check_refund(state: SupportState) -> None:
    """The refund about to be paid agrees with the facts and the approvals it rests on.

    Raises:
        EffectRefused: it does not (nothing is paid; the node's ladder hands it to a human).
    """
    decision, lookup = state.decision, state.lookup
    assert decision is not None
    problems: list[str] = []
    order = lookup.order if lookup is not None else None
    customer = lookup.customer if lookup is not None else None
    if order is None or customer is None:
        problems.append("no looked-up order and customer to pay against")
    else:
        if order.order_id != state.order_id or customer.customer_id != state.customer_id:
            problems.append(
                f"the looked-up order {order.order_id} / customer {customer.customer_id} is not "
                f"the ticket's ({state.order_id} / {state.customer_id})"
            )
        if order.customer_id != customer.customer_id:
            problems.append(f"order {order.order_id} belongs to another customer")
        if not Decimal("0") < decision.amount <= order.total:
            problems.append(f"amount {decision.amount} is not within (0, {order.total}]")
        if decision.currency != order.currency:
            problems.append(f"currency {decision.currency} is not the order's {order.currency}")
    approved = (
        state.human is not None
        and state.human.step == "approval"
        and state.human.decision in ("approve", "edit")
    )
    if decision.needs_approval and not approved:
        problems.append("the refund needs a human approval and has none")
    if problems:
        raise EffectRefused(f"refund not paid: {'; '.join(problems)}")


class OrderMoved(Exception):
    """The order was refunded elsewhere between reading its facts and paying."""


async def read_lookup(db: Executor, state: SupportState) -> LookupResult:
    """The ticket's customer and order as the CRM has them now."""
    order = await read_order(db, state.order_id) if state.order_id else None
    customer = await read_customer(db, state.customer_id)
    return LookupResult(customer=customer, order=order)


def changed_facts(state: SupportState, now: LookupResult) -> list[str]:
    """What differs between the facts the decision rests on and `now`."""
    assert state.decision is not None
    # a decision without facts of its own (an operator's, by fork) rests on the lookup's
    then = state.decision.facts or (state.lookup.facts() if state.lookup else {})
    current = now.facts()
    return [
        f"{name}: {then.get(name)} → {current.get(name)}"
        for name in sorted(set(then) | set(current))
        if then.get(name) != current.get(name)
    ]


def route_after_execute(state: SupportState) -> Literal["decide", "__end__"]:
    """Resolved → end; facts changed before paying (no resolution) → decide again."""
    return "__end__" if state.resolution is not None else "decide"


async def execute(state: SupportState, runtime: Runtime[SupportContext]) -> dict[str, Any]:
    """Pay the refund and send the reply, each exactly once, on facts read just now.

    Every check comes first, the effects last. The refund rests on CRM facts the decision
    recorded (`RefundDecision.facts`); they are read again here, and if any changed since (a
    human may have approved days ago; another ticket may have refunded the order), nothing is
    paid and nothing resolved: the ticket goes back to `decide` (`route_after_execute`) with
    what changed (`stale_facts`), and the ledger row of this invocation says so.

    Keys are business identities (`effect_key`): the refund of this order for this ticket, the
    reply to this ticket. A node re-executed after a resume, a retry or a crash, a fork, a
    replay or a second thread of the same ticket gets the first rows back instead of paying or
    sending twice; the resolution then says what was actually paid and marks the effects as
    replayed. The payment moves the order's refunded amount in the same transaction, and only
    within the order's total: tickets of one order never refund more than the order.
    """
    human_reply = state.human.message if state.human and state.human.decision == "respond" else None
    pays = human_reply is None and state.decision is not None and state.decision.outcome == "refund"
    if pays:
        check_refund(state)  # against the looked-up facts and the approvals
    db = await run_database()
    thread_id = _thread_id(runtime)
    now = datetime.now(UTC).isoformat()

    payment_id: str | None = None
    paid_amount = "0.00"
    replayed = False
    if pays:
        assert state.decision is not None and state.order_id is not None
        amount, currency, order_id = state.decision.amount, state.decision.currency, state.order_id
        payment_key = refund_key(order_id, state.ticket_id)
        external = provider_configured(PAYMENTS)  # checked before anything is written
        if await refund_paid(db, payment_key) is None:  # a replay is not re-checked
            crm = await read_lookup(db, state)
            changed = changed_facts(state, crm)
            if changed:  # nothing paid, no resolution: `decide` runs again on the CRM as it is
                return update(lookup=crm, stale_facts=changed)

        async def pay(tx: Executor) -> dict[str, Any]:
            if not await record_refund(tx, order_id, amount):
                raise OrderMoved(order_id)  # refunded elsewhere since the facts were read
            new_id = f"pay-{uuid.uuid4().hex[:12]}"
            await tx.execute(
                "INSERT INTO support_payments (payment_id, effect_key, thread_id, ticket_id, "
                "order_id, amount, currency, created_at) VALUES (:id, :key, :thread, :ticket, "
                ":order_id, :amount, :currency, :now)",
                {
                    "id": new_id,
                    "key": payment_key,
                    "thread": thread_id,
                    "ticket": state.ticket_id,
                    "order_id": order_id,
                    "amount": str(amount),
                    "currency": currency,
                    "now": now,
                },
            )
            if external:  # the provider's call commits with the local record, or neither does
                call = payment_call(payment_key, order_id, str(amount), currency)
                await enqueue_call(tx, thread_id=thread_id, **call)
            return {"payment_id": new_id, "amount": str(amount), "currency": currency}

        try:
            paid, paid_now = await perform_once(
                db,
                key=payment_key,
                thread_id=thread_id,
                kind="support.payment",
                apply=pay,
                legacy_key=f"{thread_id}:payment:{state.ticket_id}",
            )
        except OrderMoved:
            crm = await read_lookup(db, state)
            moved = changed_facts(state, crm) or [f"order {order_id} refunded while paying"]
            return update(lookup=crm, stale_facts=moved)
        payment_id, paid_amount = str(paid["payment_id"]), str(paid["amount"])
        replayed = replayed or not paid_now
        if external and (paid_now or await payment_enqueued(db, payment_key)):
            # pay at the provider (or get its recorded answer); a transient failure raises
            # DeliveryPending, which the ladder retries; a payment recorded before the outbox
            # existed is not sent
            call = payment_call(
                payment_key, order_id, paid_amount, str(paid.get("currency", currency))
            )
            delivery = await call_once(db=db, thread_id=thread_id, **call)
            if not delivery.ok:
                raise EffectRefused(
                    f"the payment provider refused refund {payment_key} "
                    f"(HTTP {delivery.http_status}): {delivery.answer}"
                )

    body = human_reply or (state.draft.text if state.draft else None)
    outbox_id: str | None = None
    if body:
        recipient = (
            state.lookup.customer.email
            if state.lookup is not None and state.lookup.customer is not None
            else f"customer:{state.customer_id}"
        )
        reply_key = effect_key("support.reply", state.ticket_id)

        async def send(tx: Executor) -> dict[str, Any]:
            new_id = f"msg-{uuid.uuid4().hex[:12]}"
            await tx.execute(
                "INSERT INTO support_outbox (outbox_id, effect_key, thread_id, ticket_id, "
                "recipient, body, created_at) VALUES (:id, :key, :thread, :ticket, :recipient, "
                ":body, :now)",
                {
                    "id": new_id,
                    "key": reply_key,
                    "thread": thread_id,
                    "ticket": state.ticket_id,
                    "recipient": recipient,
                    "body": body,
                    "now": now,
                },
            )
            return {"outbox_id": new_id}

        sent, sent_now = await perform_once(
            db,
            key=reply_key,
            thread_id=thread_id,
            kind="support.reply",
            apply=send,
            legacy_key=f"{thread_id}:reply:{state.ticket_id}",
        )
        replayed = replayed or not sent_now
        outbox_id = str(sent["outbox_id"])

    assert state.decision is not None or human_reply is not None
    resolution = Resolution(
        kind="refunded" if payment_id else ("closed_by_human" if human_reply else "replied"),
        refund_amount=paid_amount,
        payment_id=payment_id,
        outbox_id=outbox_id,
        effects_replayed=replayed,
    )
    return update(resolution=resolution)

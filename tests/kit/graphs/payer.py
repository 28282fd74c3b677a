"""A kit test graph that pays through the outbox: `pay` calls a payment provider once per key.

Each payment is an external effect (`call_once`) keyed by its business identity (the payment's
reference), with a declared compensation (its reversal). A refusal by the provider (4xx) is
routed on, not retried; a transient failure is retried by the node's ladder. Undoing a payment
has a local part too (`on_compensated`): the reversal is noted in `kit_payer_reversals`, in the
transaction that records the provider's answer. With `KIT_PAYER_UNDO_FAILS=1` that local part
fails, as a bug or a lost connection would.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy
from pydantic import BaseModel, ConfigDict, Field

from waypoint import (
    Budgets,
    CompensatedEffect,
    Compensation,
    Executor,
    Halt,
    Ladder,
    Migration,
    add_node,
    call_once,
    compensate_run,
    effect_key,
    on_compensated,
    register_tables,
    retry_on,
)

REVERSED = "kit.payment_reversed"
"""The local undo of a payment the provider reversed."""

register_tables(
    Migration(
        component="kit_payer",
        version=1,
        name="reversals noted locally",
        sqlite="""
        CREATE TABLE kit_payer_reversals (
            effect_key TEXT PRIMARY KEY,
            reference TEXT NOT NULL,
            amount TEXT NOT NULL,
            reversal_id TEXT NOT NULL
        )
        """,
    )
)


@on_compensated(REVERSED)
async def payment_reversed(tx: Executor, effect: CompensatedEffect) -> None:
    """Note the reversal locally (a primary key: a second note would fail the transaction)."""
    if os.environ.get("KIT_PAYER_UNDO_FAILS"):
        raise RuntimeError("the local undo failed (KIT_PAYER_UNDO_FAILS)")
    await tx.execute(
        "INSERT INTO kit_payer_reversals (effect_key, reference, amount, reversal_id) "
        "VALUES (:key, :reference, :amount, :reversal)",
        {
            "key": effect.key,
            "reference": effect.body["reference"],
            "amount": effect.body["amount"],
            "reversal": str(effect.reversal.get("id")),
        },
    )


class Payment(BaseModel):
    """One payment to make."""

    model_config = ConfigDict(extra="forbid")

    reference: str = Field(min_length=1, max_length=200)
    amount: str = Field(pattern=r"^\d{1,9}\.\d{2}$")


class PayerInput(BaseModel):
    """The payments, in order."""

    model_config = ConfigDict(extra="forbid")

    payments: list[Payment] = Field(min_length=1, max_length=20)
    revoke: bool = False
    """After paying, revoke: undo every payment (a workflow routing to compensation)."""


class PayerState(PayerInput):
    """State: the input, the provider's answers, and the kit's failure fields."""

    paid: list[dict[str, Any]] = Field(default_factory=list)
    refused: list[dict[str, Any]] = Field(default_factory=list)
    receipt: str | None = None
    reversed: list[str] = Field(default_factory=list)
    failure: dict[str, Any] | None = None
    halt: Halt | None = None


class PayerContext(BaseModel):
    """Run settings: the kit's budgets."""

    model_config = ConfigDict(extra="forbid")

    budgets: Budgets = Budgets(steps=20)


async def pay(state: PayerState) -> dict[str, Any]:
    """Pay each payment once (by its reference), through the outbox; record the answers."""
    paid: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    for payment in state.payments:
        delivery = await call_once(
            provider="payments",
            path="/payments",
            body={"amount": payment.amount, "currency": "USD", "reference": payment.reference},
            key=effect_key("kit.payment", payment.reference),
            kind="kit.payment",
            compensation=Compensation(
                path="/reversals", body={"payment": "{answer.id}"}, local_undo=REVERSED
            ),
        )
        entry = {"reference": payment.reference, **delivery.answer}
        (paid if delivery.ok else refused).append(entry)
    return {"paid": paid, "refused": refused}


def route_after_pay(state: PayerState) -> Literal["receipt", "declined", "revoke"]:
    """All paid → receipt (or revoke, when asked); any refused → declined."""
    if state.refused:
        return "declined"
    return "revoke" if state.revoke else "receipt"


async def revoke(state: PayerState) -> dict[str, Any]:
    """Undo every payment of this thread, newest first, each once."""
    report = await compensate_run("revoked by the input")
    return {"reversed": [str(done["effect"]) for done in report.compensated]}


async def receipt(state: PayerState) -> dict[str, Any]:
    """Summarise what was paid."""
    return {"receipt": ", ".join(f"{p['reference']}={p['id']}" for p in state.paid)}


async def declined(state: PayerState) -> dict[str, Any]:
    """Say what the provider refused."""
    return {"receipt": "declined: " + ", ".join(r["reference"] for r in state.refused)}


EFFECT_RETRY = RetryPolicy(
    max_attempts=6, initial_interval=0.05, backoff_factor=2.0, max_interval=1.0, retry_on=retry_on
)
"""The paying node: safe to retry (one key per payment); a refusal is not retried."""

LADDERS = {
    "pay": Ladder(retry=EFFECT_RETRY, last="fail"),
    "receipt": Ladder(retry=RetryPolicy(max_attempts=1), last="fail"),
    "declined": Ladder(retry=RetryPolicy(max_attempts=1), last="fail"),
    "revoke": Ladder(retry=EFFECT_RETRY, last="fail"),
}


def build() -> StateGraph[PayerState, PayerContext, PayerInput, PayerState]:
    """pay → receipt | declined | revoke → end."""
    builder = StateGraph(PayerState, context_schema=PayerContext, input_schema=PayerInput)
    nodes = (("pay", pay), ("receipt", receipt), ("declined", declined), ("revoke", revoke))
    for name, action in nodes:
        add_node(builder, name, action, LADDERS[name])
    builder.add_edge(START, "pay")
    builder.add_conditional_edges("pay", route_after_pay)
    builder.add_edge("receipt", END)
    builder.add_edge("declined", END)
    builder.add_edge("revoke", END)
    return builder


graph = build().compile(name="payer")

"""The demo CRM: customers and orders in real tables, which a refund updates.

The tables live in the workflow's database (beside the checkpoints), seeded once from
`crm_data.json`. A refund moves the order's refunded amount up in the same transaction as the
payment and its idempotency key, and only while the total refunded stays within the order's
total: the database itself keeps every ticket, thread and fork of one order within it.
Amounts are kept in cents (integers), so the check is exact on both backends.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import nodes.support.tables  # noqa: F401  (version 1 of the component, before this one)
from state.support import Customer, Order
from waypoint import (
    CompensatedEffect,
    Executor,
    Migration,
    effect_key,
    on_compensated,
    register_tables,
)

CRM_DATA = Path(__file__).with_name("crm_data.json")


def cents(amount: Decimal) -> int:
    """An amount as whole cents."""
    return int((amount * 100).to_integral_value())


def from_cents(value: int) -> Decimal:
    """Whole cents as an amount with two decimals."""
    return (Decimal(value) / 100).quantize(Decimal("0.01"))


@cache
def seed_data() -> dict[str, list[dict[str, Any]]]:
    """The demo customers and orders the tables start with."""
    data: dict[str, list[dict[str, Any]]] = json.loads(CRM_DATA.read_text())
    return data


def seed_statements() -> list[str]:
    """SQL that inserts the demo customers and orders (the migration's seed)."""

    def text(value: Any) -> str:
        return "'" + str(value).replace("'", "''") + "'"

    statements = [
        "INSERT INTO support_customers (customer_id, name, email, fraud_flag) VALUES "
        + ", ".join(
            f"({text(c['customer_id'])}, {text(c['name'])}, {text(c['email'])}, "
            f"{1 if c.get('fraud_flag') else 0})"
            for c in seed_data()["customers"]
        )
        + " ON CONFLICT (customer_id) DO NOTHING",
        "INSERT INTO support_orders (order_id, customer_id, total_cents, currency, status, "
        "refunded_cents) VALUES "
        + ", ".join(
            f"({text(o['order_id'])}, {text(o['customer_id'])}, {cents(Decimal(o['total']))}, "
            f"{text(o.get('currency', 'USD'))}, {text(o.get('status', 'delivered'))}, "
            f"{cents(Decimal(o['total'])) if o.get('status') == 'refunded' else 0})"
            for o in seed_data()["orders"]
        )
        + " ON CONFLICT (order_id) DO NOTHING",
    ]
    return statements


register_tables(
    Migration(
        component="support",
        version=2,
        name="demo CRM tables",
        sqlite=(
            "CREATE TABLE support_customers (customer_id TEXT PRIMARY KEY, name TEXT NOT NULL, "
            "email TEXT NOT NULL, fraud_flag INTEGER NOT NULL DEFAULT 0)",
            "CREATE TABLE support_orders (order_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, "
            "total_cents INTEGER NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL, "
            "refunded_cents INTEGER NOT NULL DEFAULT 0, "
            "CHECK (refunded_cents >= 0 AND refunded_cents <= total_cents))",
            *seed_statements(),
        ),
    )
)

register_tables(
    Migration(
        component="support",
        version=3,
        name="refund reversals",
        sqlite=(
            "ALTER TABLE support_orders ADD COLUMN status_before_refund TEXT",
            "ALTER TABLE support_payments ADD COLUMN reversed_at TEXT",
        ),
    )
)

REFUND_REVERSED = "support.refund_reversed"
"""The local undo of a refund the payment provider reversed (`refund_reversed`)."""


def refund_key(order_id: str, ticket_id: str) -> str:
    """The business identity of a refund: this order, for this ticket (not the thread)."""
    return effect_key("support.refund", order_id, ticket_id)


async def refund_paid(db: Executor, key: str) -> Decimal | None:
    """What the refund of this key paid, if it happened (a replay, a fork, a second thread)."""
    row = await db.fetchone(
        "SELECT result FROM waypoint_side_effects WHERE effect_key = :key", {"key": key}
    )
    return None if row is None else Decimal(json.loads(row["result"])["amount"])


async def payment_enqueued(db: Executor, key: str) -> bool:
    """Whether the refund of this key went to the payment provider's outbox."""
    row = await db.fetchone(
        "SELECT 1 AS present FROM waypoint_outbox WHERE effect_key = :key", {"key": key}
    )
    return row is not None


async def read_customer(db: Executor, customer_id: str) -> Customer | None:
    """A customer as the CRM has it now."""
    row = await db.fetchone(
        "SELECT customer_id, name, email, fraud_flag FROM support_customers "
        "WHERE customer_id = :id",
        {"id": customer_id},
    )
    if row is None:
        return None
    return Customer(**{**row, "fraud_flag": bool(row["fraud_flag"])})


async def read_order(db: Executor, order_id: str) -> Order | None:
    """An order as the CRM has it now, with what was refunded of it so far."""
    row = await db.fetchone(
        "SELECT order_id, customer_id, total_cents, currency, status, refunded_cents "
        "FROM support_orders WHERE order_id = :id",
        {"id": order_id},
    )
    if row is None:
        return None
    return Order(
        order_id=row["order_id"],
        customer_id=row["customer_id"],
        total=from_cents(int(row["total_cents"])),
        currency=row["currency"],
        status=row["status"],
        refunded_amount=from_cents(int(row["refunded_cents"])),
    )


async def record_refund(tx: Executor, order_id: str, amount: Decimal) -> bool:
    """Add `amount` to the order's refunded amount if the total stays within the order's.

    Returns whether it did (False: the order is gone, or the refund would exceed its total).
    The order reads `refunded` once all of it is refunded.
    """
    rows = await tx.fetchall(
        "UPDATE support_orders SET refunded_cents = refunded_cents + :cents, "
        "status = CASE WHEN refunded_cents + :cents >= total_cents THEN 'refunded' "
        "ELSE status END, "
        "status_before_refund = CASE WHEN refunded_cents + :cents >= total_cents "
        "AND status <> 'refunded' THEN status ELSE status_before_refund END "
        "WHERE order_id = :id AND refunded_cents + :cents <= total_cents "
        "RETURNING order_id",
        {"cents": cents(amount), "id": order_id},
    )
    return bool(rows)


@on_compensated(REFUND_REVERSED)
async def refund_reversed(tx: Executor, effect: CompensatedEffect) -> None:
    """The provider reversed a refund: the order's refunded amount goes back down by it.

    Runs in the transaction that records the reversal, once; an order fully refunded reads
    the status it had before again. The payment row is marked reversed; its business key
    stays taken, so the ticket's refund is not paid again by a re-run.
    """
    payment = await tx.fetchone(
        "SELECT order_id, amount FROM support_payments WHERE effect_key = :key "
        "AND reversed_at IS NULL",
        {"key": effect.key},
    )
    if payment is None:  # paid before this table knew reversals, or reversed already
        return
    await tx.execute(
        "UPDATE support_payments SET reversed_at = :now WHERE effect_key = :key",
        {"now": datetime.now(UTC).isoformat(), "key": effect.key},
    )
    await tx.execute(
        "UPDATE support_orders SET refunded_cents = refunded_cents - :cents, "
        "status = CASE WHEN status = 'refunded' "
        "THEN COALESCE(status_before_refund, 'delivered') ELSE status END "
        "WHERE order_id = :id AND refunded_cents >= :cents",
        {"cents": cents(Decimal(str(payment["amount"]))), "id": payment["order_id"]},
    )


async def reset_demo_orders(db: Executor) -> None:
    """Put the seeded demo customers and orders back as `crm_data.json` has them.

    `waypoint demo` calls it first (its `setup` in `demo_cases.json`), so every demo run starts
    from the same CRM: a refund of an earlier run no longer counts against the order. Orders
    and customers added by anything else are left alone; a seeded one deleted is put back.
    """
    for statement in seed_statements():  # the rows missing
        await db.execute(statement)
    for customer in seed_data()["customers"]:
        await db.execute(
            "UPDATE support_customers SET name = :name, email = :email, fraud_flag = :flag "
            "WHERE customer_id = :id",
            {
                "id": customer["customer_id"],
                "name": customer["name"],
                "email": customer["email"],
                "flag": 1 if customer.get("fraud_flag") else 0,
            },
        )
    for order in seed_data()["orders"]:
        total = cents(Decimal(order["total"]))
        status = order.get("status", "delivered")
        await db.execute(
            "UPDATE support_orders SET customer_id = :customer, total_cents = :total, "
            "currency = :currency, status = :status, refunded_cents = :refunded "
            "WHERE order_id = :id",
            {
                "id": order["order_id"],
                "customer": order["customer_id"],
                "total": total,
                "currency": order.get("currency", "USD"),
                "status": status,
                "refunded": total if status == "refunded" else 0,
            },
        )

"""Tables of the `support` workflow's side effects: payments and the reply outbox."""

from __future__ import annotations

from waypoint import Migration, register_tables

register_tables(
    Migration(
        component="support",
        version=1,
        name="payments and outbox",
        sqlite="""
        CREATE TABLE support_payments (
            payment_id TEXT PRIMARY KEY,
            effect_key TEXT NOT NULL UNIQUE,
            thread_id TEXT NOT NULL,
            ticket_id TEXT NOT NULL,
            order_id TEXT NOT NULL,
            amount TEXT NOT NULL,
            currency TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX support_payments_thread ON support_payments (thread_id);
        CREATE TABLE support_outbox (
            outbox_id TEXT PRIMARY KEY,
            effect_key TEXT NOT NULL UNIQUE,
            thread_id TEXT NOT NULL,
            ticket_id TEXT NOT NULL,
            recipient TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX support_outbox_thread ON support_outbox (thread_id)
        """,
    )
)

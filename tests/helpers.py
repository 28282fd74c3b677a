"""Helpers shared by the test suites: demo cases, direct row counts, and a fake chat model.

Rows are counted with plain `sqlite3` / `psycopg` connections, never through Waypoint's own code,
so a test sees what is really in the database. The fake chat model is the only fake in the suite
(a model provider, as DESIGN.md allows); everything else is real.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Sequence
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.tool import tool_call
from langchain_core.outputs import ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from pydantic import Field

T = TypeVar("T")

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEMO_TICKETS = PROJECT_ROOT / "nodes" / "support" / "demo_cases.json"
DEMO_CASES: list[dict[str, Any]] = (
    json.loads(DEMO_TICKETS.read_text())["cases"] if DEMO_TICKETS.exists() else []  # no support
)
CASES_BY_NAME: dict[str, dict[str, Any]] = {case["case"]: case for case in DEMO_CASES}

_TABLES_WITH_THREAD = {
    "support_payments",
    "support_outbox",
    "waypoint_threads",
    "waypoint_side_effects",
    "waypoint_thread_holders",
    "waypoint_ledger",
    "checkpoints",
}


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion (pytest-asyncio is not installed)."""
    return asyncio.run(coro)


def demo_input(case: str, **overrides: Any) -> dict[str, Any]:
    """A demo ticket's input, optionally changed."""
    return {**CASES_BY_NAME[case]["input"], **overrides}


def fresh_input(db_url: str, case: str, **overrides: Any) -> dict[str, Any]:
    """A demo ticket's input on an order and a ticket of its own.

    A refund moves the CRM's order and keys the payment by order and ticket, so a test that
    refunds more than once gives each run its own copy of the demo order (same customer and
    total) and its own ticket id.
    """
    ticket = demo_input(case, **overrides)
    unique = uuid.uuid4().hex[:8].upper()
    ticket.setdefault("ticket_id", "T")
    ticket["ticket_id"] = f"{ticket['ticket_id']}-{unique}"
    like = ticket.get("order_id")
    if like and any(o["order_id"] == like for o in _seed_orders()):
        ticket["order_id"] = add_order(db_url, f"{like}-{unique}", like=like)
    return ticket


def _seed_orders() -> list[dict[str, Any]]:
    from nodes.support.crm import seed_data

    return seed_data()["orders"]


async def _create_tables(db_url: str) -> None:
    import graphs.support  # noqa: F401  (the workflow's tables)
    from waypoint.persistence.stores import open_stores

    async with open_stores(db_url):
        pass


def sqlite_path(db_url: str) -> Path:
    """The file behind an `sqlite:///` URL."""
    assert db_url.startswith("sqlite:///"), db_url
    return Path(db_url.removeprefix("sqlite:///"))


def is_sqlite(db_url: str) -> bool:
    """Whether the URL names an SQLite file."""
    return db_url.startswith("sqlite:///")


def query(db_url: str, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Run a read query directly on the database; a missing file or table reads as no rows.

    `sql` uses `?` placeholders; they are rewritten to `%s` for Postgres.
    """
    if is_sqlite(db_url):
        path = sqlite_path(db_url)
        if not path.exists():
            return []
        # read-only: looking must never create the file
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            conn.row_factory = sqlite3.Row
            try:
                return [dict(row) for row in conn.execute(sql, tuple(params)).fetchall()]
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return []
                raise
    with psycopg.connect(db_url, autocommit=True) as pg:
        try:
            cursor = pg.execute(sql.replace("?", "%s"), tuple(params))
        except psycopg.errors.UndefinedTable:
            return []
        names = [column.name for column in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def rows(db_url: str, table: str, thread_id: str) -> list[dict[str, Any]]:
    """Every row of `table` that belongs to `thread_id`."""
    assert table in _TABLES_WITH_THREAD, table
    return query(db_url, f"SELECT * FROM {table} WHERE thread_id = ?", (thread_id,))


def count(db_url: str, table: str, thread_id: str) -> int:
    """How many rows of `table` belong to `thread_id`."""
    return len(rows(db_url, table, thread_id))


def thread_row(db_url: str, thread_id: str) -> dict[str, Any] | None:
    """The thread's row in Waypoint's thread index, if any."""
    found = rows(db_url, "waypoint_threads", thread_id)
    return found[0] if found else None


def footprint(db_url: str, thread_id: str) -> dict[str, Any]:
    """Everything the database holds for a thread, to prove that a command wrote nothing."""
    return {
        "checkpoints": count(db_url, "checkpoints", thread_id),
        "payments": count(db_url, "support_payments", thread_id),
        "outbox": count(db_url, "support_outbox", thread_id),
        "effects": count(db_url, "waypoint_side_effects", thread_id),
        "thread": thread_row(db_url, thread_id),
    }


# --- the fake chat model ----------------------------------------------------------------------


def tool_answer(name: str, args: dict[str, Any], call_id: str = "call-1") -> AIMessage:
    """A model message that calls the tool `name` with `args` (what a real model sends back)."""
    return AIMessage(content="", tool_calls=[tool_call(name=name, args=args, id=call_id)])


def classification(category: str, confidence: float, rationale: str = "test") -> AIMessage:
    """The model's `Classification` tool call."""
    return tool_answer(
        "Classification", {"category": category, "confidence": confidence, "rationale": rationale}
    )


def draft_text(text: str) -> AIMessage:
    """The model's `DraftText` tool call."""
    return tool_answer("DraftText", {"text": text})


def reply(
    name: str, ticket: str, amount: str | None, *, currency: str = "USD", order: str = "O-1"
) -> str:
    """A reply as a careful model would write it (a refund when `amount` is given)."""
    body = (
        f"We have approved a refund of {amount} {currency} for order {order}."
        if amount is not None
        else "Your parcel is on its way; no refund is due."
    )
    return (
        f"Hello {name},\n\nThanks for writing about ticket {ticket}. {body}\n\n"
        "Kind regards,\nWaypoint Support"
    )


class ToolCallingFakeModel(GenericFakeChatModel):
    """langchain-core's fake chat model that also accepts `bind_tools` and records its prompts.

    It answers with the scripted messages in order, whatever it is asked; the test checks the
    prompts and tools it recorded.
    """

    bound_tools: list[Any] = Field(default_factory=list)
    tool_choices: list[str | None] = Field(default_factory=list)
    prompts: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(
        self,
        tools: Sequence[builtins.dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Record the tools and the forced choice; answer as before."""
        self.bound_tools.extend(tools)
        self.tool_choices.append(tool_choice)
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.prompts.append(list(messages))
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    def prompt_text(self, index: int) -> str:
        """The whole prompt of call `index`, as one string."""
        return "\n".join(str(message.content) for message in self.prompts[index])


class FakeModelFactory:
    """A `chat_model_factory` that hands out one scripted fake model and records the specs."""

    def __init__(self, model: ToolCallingFakeModel) -> None:
        self.model = model
        self.specs: list[str] = []

    def __call__(self, spec: str) -> ToolCallingFakeModel:
        self.specs.append(spec)
        return self.model


FakeModelInstaller = Callable[[Iterable[AIMessage | str]], ToolCallingFakeModel]
"""Fixture `fake_chat_model`: install a fake model answering `answers` in order; returns it."""

FAKE_MODEL = "fake:model"
"""The run context's `model` setting that routes classify and draft to the installed fake."""


def start_paused(
    args: Sequence[str], point: str, tmp_path: Path, *, releasable: bool = False
) -> subprocess.Popen[str]:
    """Start `waypoint ARGS` frozen at pause point `point` (see `waypoint.faults`); wait for it.

    With `releasable`, writing `tmp_path / "release"` lets it go on; otherwise kill it.
    """
    marker = tmp_path / "paused"
    env = {
        **os.environ,
        "WAYPOINT_PAUSE_AT": point,
        "WAYPOINT_PAUSE_MARKER": str(marker),
        "LANGGRAPH_STRICT_MSGPACK": "true",
    }
    if releasable:
        env["WAYPOINT_PAUSE_RELEASE"] = str(tmp_path / "release")
    proc = subprocess.Popen(
        [sys.executable, "-m", "waypoint", *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 90
    while not marker.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"process ended before reaching {point}: {out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"never reached pause point {point}")
        time.sleep(0.05)
    return proc


def reset_demo_crm(db_url: str) -> None:
    """A fresh world for `support`, if it and its tables exist: the demo CRM as seeded, no
    payments, replies or refund keys (refunds move orders; keys name order and ticket)."""
    try:
        from nodes.support.crm import seed_statements
    except ImportError:  # the kit's tests on a copy with `support` deleted
        return

    cleared = {
        "support_payments": "DELETE FROM support_payments",
        "support_outbox": "DELETE FROM support_outbox",
        "waypoint_side_effects": "DELETE FROM waypoint_side_effects WHERE kind LIKE 'support.%'",
        "support_orders": "DELETE FROM support_orders",
        "support_customers": "DELETE FROM support_customers",
    }

    def statements(present: set[str]) -> list[str]:
        # a database may hold only some of them (a process that imported the CRM module but
        # not the payments tables migrated only the CRM's)
        if not {"support_orders", "support_customers"} <= present:
            return []
        return [sql for table, sql in cleared.items() if table in present] + seed_statements()

    if is_sqlite(db_url):
        path = sqlite_path(db_url)
        if not path.exists():
            return
        with closing(sqlite3.connect(path)) as lite:
            names = lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            for statement in statements({str(row[0]) for row in names}):
                lite.execute(statement)
            lite.commit()
        return
    with psycopg.connect(db_url, autocommit=True) as pg:
        present = {
            table
            for table in cleared
            if pg.execute("SELECT to_regclass(%s)", (table,)).fetchone() != (None,)
        }
        with pg.transaction():
            for statement in statements(present):
                pg.execute(statement)


def add_order(db_url: str, order_id: str, *, like: str) -> str:
    """A new CRM order copied from demo order `like` (its customer, total, currency).

    The workflow's tables are created first if the database is new.
    """
    from nodes.support.crm import cents, seed_data

    run(_create_tables(db_url))
    seed = next(o for o in seed_data()["orders"] if o["order_id"] == like)
    params = (order_id, seed["customer_id"], cents(Decimal(seed["total"])), seed["currency"])
    sql = (
        "INSERT INTO support_orders (order_id, customer_id, total_cents, currency, status, "
        "refunded_cents) VALUES (%s, %s, %s, %s, 'delivered', 0)"
    )
    if is_sqlite(db_url):
        with closing(sqlite3.connect(sqlite_path(db_url))) as conn:
            conn.execute(sql.replace("%s", "?"), params)
            conn.commit()
    else:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(sql, params)
    return order_id

"""A chat model a node calls itself is guarded and counted like a capability call.

`chatter`'s node calls a fake chat model (langchain-core's, reporting usage as `openai:gpt-4o`)
directly. Each call's tokens and price (genai-prices) land on the node's ledger row and in the
run's budgets; a call whose worst case would cross a budget is refused before it is made.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from tests.helpers import query, run
from tests.kit.graphs.chatter import CALLS
from waypoint.runner import start_run


def _thread() -> str:
    return f"chat-{uuid.uuid4().hex[:8]}"


def test_direct_calls_are_counted_and_priced_on_the_ledger(db_url: str) -> None:
    thread = _thread()
    done = run(start_run("chatter", {"calls": 2}, thread_id=thread, db_url=db_url))
    assert done.status == "completed", done.values
    [row] = query(
        db_url,
        "SELECT capability, provider, tokens, cost_usd FROM waypoint_ledger WHERE thread_id = ?",
        (thread,),
    )
    assert (row["capability"], row["provider"], row["tokens"]) == (
        "chat_model",
        "openai:gpt-4o",
        3000,
    )
    assert Decimal(str(row["cost_usd"])) > 0  # priced from genai-prices, not 0


def test_a_call_that_could_cross_the_budget_is_refused_before_it_is_made(db_url: str) -> None:
    thread = _thread()
    before = len(CALLS)
    # the first call's worst case fits (a short prompt + max_tokens 1,000); it reports 1,500
    # tokens, and the second's worst case (~1,007 more) would cross 2,000: refused
    halted = run(
        start_run(
            "chatter",
            {"calls": 3},
            thread_id=thread,
            db_url=db_url,
            context={"budgets": {"steps": 20, "tokens": 2000}},
        )
    )
    assert halted.status == "halted", halted.values
    assert "token budget 2000" in halted.values["halt"]["reason"]
    assert len(CALLS) - before == 1  # refused before the second call: never made
    [row] = query(
        db_url,
        "SELECT error_class, error_message, tokens FROM waypoint_ledger WHERE thread_id = ?",
        (thread,),
    )
    assert row["error_class"] == "GuardHalt" and "1500 used" in row["error_message"]
    assert row["tokens"] == 1500  # the call made is counted; the refused one is not

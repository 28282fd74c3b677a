"""An invalid input lists every problem at once and calls an unknown key what it is.

A misspelt `custmer_id` once reported only "customer_id: Field required", hiding the cause.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.cli_inprocess import assert_refused, invoke
from tests.helpers import demo_input, footprint, run
from waypoint.errors import BadInput
from waypoint.runner import start_run

NOTHING = {"checkpoints": 0, "payments": 0, "outbox": 0, "effects": 0, "thread": None}
FIELDS = "ticket_id, customer_id, message, order_id"


def misspelt() -> dict[str, Any]:
    ticket = demo_input("auto refund")
    ticket["custmer_id"] = ticket.pop("customer_id")
    return ticket


def test_a_misspelt_key_is_named_with_the_expected_fields(db_url: str) -> None:
    thread = f"ls-{uuid.uuid4().hex[:12]}"
    with pytest.raises(BadInput) as refused:
        run(start_run("support", misspelt(), thread_id=thread, db_url=db_url))
    message = str(refused.value)
    assert "input.customer_id: Field required" in message
    assert f"input.custmer_id: unknown field (expected one of {FIELDS})" in message
    assert refused.value.field == "customer_id"  # the first problem, in the schema's order
    assert footprint(db_url, thread) == NOTHING


def test_every_problem_is_listed_on_one_line(sqlite_url: str) -> None:
    bad = {"ticket_id": "", "customer_id": 5, "message": None, "priority": "high"}
    line = assert_refused(invoke("run", "support", "--input", json.dumps(bad), "--db", sqlite_url))
    for words in (
        "input.ticket_id: String should have at least 1 character",
        "input.customer_id: Input should be a valid string (got 5)",
        "input.message: Input should be a valid string (got null)",
        f"input.priority: unknown field (expected one of {FIELDS})",
    ):
        assert words in line
    assert line.count("; ") == 3


def test_an_unknown_nested_context_key_names_the_nested_fields(db_url: str) -> None:
    with pytest.raises(BadInput) as refused:
        run(
            start_run(
                "support",
                demo_input("auto refund"),
                db_url=db_url,
                context={"budgets": {"stepz": 3}, "aproval_threshold": 5},
            )
        )
    message = str(refused.value)
    assert "context.budgets.stepz: unknown field (expected one of steps, " in message
    assert (
        "context.aproval_threshold: unknown field (expected one of budgets, model, approval_thr"
        in message
    )


def test_a_flood_of_problems_is_cut_short() -> None:
    flood = {**demo_input("auto refund"), **{f"extra_{i}": i for i in range(500)}}
    with pytest.raises(BadInput) as refused:
        run(start_run("support", flood, db_url="sqlite:////nonexistent/never.sqlite"))
    message = str(refused.value)
    assert "and 492 more problem(s)" in message
    assert len(message) < 2_000

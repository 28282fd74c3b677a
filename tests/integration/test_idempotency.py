"""Side effects happen once: a node re-executed (replay, fork, resume) pays and sends only once.

Checked with `perform_once` directly and at graph level, with LangGraph's own replay
(`ainvoke(None, config_with_checkpoint_id)`) and fork (`aupdate_state`), on both backends.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StateSnapshot

import nodes.support.tables  # noqa: F401  (registers the support tables' migration)
from state.support import SupportContext
from tests.helpers import add_order, count, demo_input, reply, rows, run
from waypoint.admission import trusted
from waypoint.errors import BadInput
from waypoint.persistence.side_effects import effect_key, perform_once
from waypoint.persistence.sql import Executor
from waypoint.persistence.stores import open_stores
from waypoint.runner import ThreadReport, resume_thread, start_run
from waypoint.workflows import load_workflow


def insert_payment(
    thread_id: str, key: str, amount: str
) -> Callable[[Executor], Awaitable[dict[str, Any]]]:
    async def apply(tx: Executor) -> dict[str, Any]:
        payment_id = f"pay-{uuid.uuid4().hex[:12]}"
        await tx.execute(
            "INSERT INTO support_payments (payment_id, effect_key, thread_id, ticket_id, order_id, "
            "amount, currency, created_at) VALUES (:id, :key, :thread, 'T-1', 'O-1', :amount, "
            "'USD', 'now')",
            {"id": payment_id, "key": key, "thread": thread_id, "amount": amount},
        )
        return {"payment_id": payment_id, "amount": amount}

    return apply


def test_perform_once_with_the_same_key_twice_writes_once(db_url: str) -> None:
    thread = f"effect-{uuid.uuid4().hex[:12]}"
    key = f"{thread}:payment:T-1"

    async def twice() -> tuple[tuple[dict[str, Any], bool], tuple[dict[str, Any], bool]]:
        async with open_stores(db_url) as stores:
            first = await perform_once(
                stores.db,
                key=key,
                thread_id=thread,
                kind="test.payment",
                apply=insert_payment(thread, key, "25.00"),
            )
            # the second call would pay a different amount: it must not run at all
            second = await perform_once(
                stores.db,
                key=key,
                thread_id=thread,
                kind="test.payment",
                apply=insert_payment(thread, key, "99.00"),
            )
            return first, second

    (first_result, first_ran), (second_result, second_ran) = run(twice())
    assert (first_ran, second_ran) == (True, False)
    assert second_result == first_result
    payments = rows(db_url, "support_payments", thread)
    assert [(p["payment_id"], p["amount"]) for p in payments] == [
        (first_result["payment_id"], "25.00")
    ]
    effects = rows(db_url, "waypoint_side_effects", thread)
    assert [(e["effect_key"], e["kind"]) for e in effects] == [(key, "test.payment")]


def test_perform_once_in_another_connection_sees_the_key(db_url: str) -> None:
    thread = f"effect-{uuid.uuid4().hex[:12]}"
    key = f"{thread}:payment:T-1"

    async def once(amount: str) -> tuple[dict[str, Any], bool]:
        async with open_stores(db_url) as stores:
            return await perform_once(
                stores.db,
                key=key,
                thread_id=thread,
                kind="test.payment",
                apply=insert_payment(thread, key, amount),
            )

    first, ran = run(once("10.00"))
    again, ran_again = run(once("10.00"))  # a new process would open its own stores like this
    assert (ran, ran_again) == (True, False)
    assert again == first
    assert count(db_url, "support_payments", thread) == 1


def test_effect_that_fails_leaves_no_row_and_no_key(db_url: str) -> None:
    thread = f"effect-{uuid.uuid4().hex[:12]}"
    key = f"{thread}:payment:T-1"

    async def failing(tx: Executor) -> dict[str, Any]:
        await insert_payment(thread, key, "25.00")(tx)
        raise RuntimeError("card network down")

    async def attempt_then_retry() -> tuple[dict[str, Any], bool]:
        async with open_stores(db_url) as stores:
            with pytest.raises(RuntimeError, match="card network down"):
                await perform_once(
                    stores.db, key=key, thread_id=thread, kind="test.payment", apply=failing
                )
            return await perform_once(
                stores.db,
                key=key,
                thread_id=thread,
                kind="test.payment",
                apply=insert_payment(thread, key, "25.00"),
            )

    # between the two calls nothing was left behind: the retry runs, and pays once
    result, ran = run(attempt_then_retry())
    assert ran
    assert [p["payment_id"] for p in rows(db_url, "support_payments", thread)] == [
        result["payment_id"]
    ]
    assert count(db_url, "waypoint_side_effects", thread) == 1


def completed_refund(db_url: str) -> ThreadReport:
    thread = f"replay-{uuid.uuid4().hex[:12]}"
    report = run(start_run("support", demo_input("auto refund"), thread_id=thread, db_url=db_url))
    assert report.status == "completed"
    assert count(db_url, "support_payments", thread) == 1
    assert count(db_url, "support_outbox", thread) == 1
    return report


async def before_execute(
    graph: CompiledStateGraph[Any, Any, Any, Any], thread_id: str
) -> StateSnapshot:
    """The checkpoint whose next task is `execute` (there is exactly one)."""
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    found = [s async for s in graph.aget_state_history(config) if s.next == ("execute",)]
    assert len(found) == 1
    return found[0]


def test_replaying_execute_does_not_pay_or_send_again(db_url: str) -> None:
    original = completed_refund(db_url)
    thread = original.thread_id

    async def replay() -> tuple[dict[str, Any], str | None]:
        async with open_stores(db_url) as stores:
            graph = load_workflow("support").compile(stores.checkpointer)
            checkpoint = await before_execute(graph, thread)
            assert checkpoint.config["configurable"]["checkpoint_id"]
            output = await graph.ainvoke(None, checkpoint.config, context=SupportContext())
            head = await graph.aget_state({"configurable": {"thread_id": thread}})
            return output, head.config["configurable"].get("checkpoint_id")

    output, head_id = run(replay())
    assert head_id != original.checkpoint_id  # execute really ran again, as a new checkpoint
    first, again = original.values["resolution"], output["resolution"]
    assert first["effects_replayed"] is False
    assert again == {**first, "effects_replayed": True}  # ... and got the first run's rows back
    assert count(db_url, "support_payments", thread) == 1
    assert count(db_url, "support_outbox", thread) == 1
    assert count(db_url, "waypoint_side_effects", thread) == 2


def test_replaying_the_whole_thread_twice_still_pays_once(db_url: str) -> None:
    original = completed_refund(db_url)
    thread = original.thread_id

    async def replay_from_start() -> None:
        async with open_stores(db_url) as stores:
            graph = load_workflow("support").compile(stores.checkpointer)
            config: RunnableConfig = {"configurable": {"thread_id": thread}}
            history = [s async for s in graph.aget_state_history(config)]
            first = next(s for s in history if s.next == ("intake",))
            for _ in range(2):
                output = await graph.ainvoke(None, first.config, context=SupportContext())
                assert (
                    output["resolution"]["payment_id"]
                    == original.values["resolution"]["payment_id"]
                )

    run(replay_from_start())
    assert count(db_url, "support_payments", thread) == 1
    assert count(db_url, "support_outbox", thread) == 1


def test_fork_with_a_new_reply_does_not_send_a_second_reply(db_url: str) -> None:
    original = completed_refund(db_url)
    thread = original.thread_id
    first_body = rows(db_url, "support_outbox", thread)[0]["body"]

    async def fork() -> dict[str, Any]:
        async with open_stores(db_url) as stores:
            graph = load_workflow("support").compile(stores.checkpointer)
            checkpoint = await before_execute(graph, thread)
            # a reply that passes review too, so the fork reaches execute with a new body
            draft = {"text": new_body, "attempt": 2}
            with trusted():  # an operator's fork of a protected field
                forked = await graph.aupdate_state(
                    checkpoint.config, {"draft": draft}, as_node="draft"
                )
            return dict(await graph.ainvoke(None, forked, context=SupportContext()))

    new_body = reply("Ada Lovelace", "T-1001", "25.00")
    assert new_body != first_body
    output = run(fork())
    assert output["draft"]["text"] == new_body
    assert output["resolution"]["outbox_id"] == original.values["resolution"]["outbox_id"]
    assert output["resolution"]["effects_replayed"] is True
    assert [row["body"] for row in rows(db_url, "support_outbox", thread)] == [first_body]
    assert count(db_url, "support_payments", thread) == 1


def test_fork_with_another_amount_reports_the_amount_really_paid(db_url: str) -> None:
    original = completed_refund(db_url)
    thread = original.thread_id

    async def fork() -> dict[str, Any]:
        async with open_stores(db_url) as stores:
            graph = load_workflow("support").compile(stores.checkpointer)
            checkpoint = await before_execute(graph, thread)
            decision = {**checkpoint.values["decision"], "amount": "20.00"}
            with trusted():  # an operator's fork of a protected field
                forked = await graph.aupdate_state(
                    checkpoint.config, {"decision": decision}, as_node="decide"
                )
            return dict(await graph.ainvoke(None, forked, context=SupportContext()))

    output = run(fork())
    paid = rows(db_url, "support_payments", thread)
    assert [p["amount"] for p in paid] == ["25.00"]  # exactly once: the fork did not pay again
    assert output["resolution"]["payment_id"] == paid[0]["payment_id"]
    assert output["decision"]["amount"] == "20.00"
    # the resolution says what was really paid, not what the forked decision wanted
    assert output["resolution"]["refund_amount"] == paid[0]["amount"] == "25.00"
    assert output["resolution"]["effects_replayed"] is True


def test_answering_twice_pays_once(db_url: str) -> None:
    thread = f"twice-{uuid.uuid4().hex[:12]}"
    run(start_run("support", demo_input("approval needed"), thread_id=thread, db_url=db_url))
    approve = {"decisions": [{"type": "approve"}]}
    done = run(resume_thread(thread, approve, db_url=db_url))
    assert done.status == "completed"
    with pytest.raises(BadInput, match="not waiting for a human"):
        run(resume_thread(thread, approve, db_url=db_url))
    assert count(db_url, "support_payments", thread) == 1
    assert count(db_url, "support_outbox", thread) == 1


def test_ids_with_separators_never_share_an_effect_key(db_url: str) -> None:
    """A thread id containing `:payment:` and another thread's ticket id made the same key."""
    stem = f"sep-{uuid.uuid4().hex[:8]}"
    orders = [add_order(db_url, f"O-1-{stem}-{n}".upper(), like="O-1") for n in (1, 2)]
    first = run(
        start_run(
            "support",
            demo_input("auto refund", ticket_id="Q", order_id=orders[0]),
            thread_id=f"{stem}:payment:T9",
            db_url=db_url,
        )
    )
    second = run(
        start_run(
            "support",
            demo_input("auto refund", ticket_id="T9:payment:Q", order_id=orders[1]),
            thread_id=stem,
            db_url=db_url,
        )
    )
    resolutions = [report.values["resolution"] for report in (first, second)]
    assert [r["kind"] for r in resolutions] == ["refunded", "refunded"]
    assert [r["effects_replayed"] for r in resolutions] == [False, False]
    assert resolutions[0]["payment_id"] != resolutions[1]["payment_id"]
    assert count(db_url, "support_payments", f"{stem}:payment:T9") == 1
    assert count(db_url, "support_payments", stem) == 1


def test_a_key_recorded_by_an_older_release_counts_only_for_its_thread(db_url: str) -> None:
    thread = f"legacy-{uuid.uuid4().hex[:8]}"
    legacy = f"{thread}:payment:T-1"

    async def scenario() -> list[bool]:
        async with open_stores(db_url) as stores:
            old = await perform_once(
                stores.db,
                key=legacy,
                thread_id=thread,
                kind="test.payment",
                apply=insert_payment(thread, legacy, "25.00"),
            )
            same_thread = await perform_once(
                stores.db,
                key=effect_key("test.payment", thread, "T-1"),
                thread_id=thread,
                kind="test.payment",
                apply=insert_payment(thread, "new-key-1", "25.00"),
                legacy_key=legacy,
            )
            other = f"{thread}-other"
            other_thread = await perform_once(
                stores.db,
                key=effect_key("test.payment", other, "T-1"),
                thread_id=other,
                kind="test.payment",
                apply=insert_payment(other, "new-key-2", "25.00"),
                legacy_key=legacy,
            )
            return [old[1], same_thread[1], other_thread[1]]

    assert run(scenario()) == [True, False, True]
    assert count(db_url, "support_payments", thread) == 1

"""A caller cannot write protected fields, jump past a gate, or pose as another approver.

The attacks of the hardening issue, made from Python against the compiled graph the CLI and the
servers run (a `GuardedGraph`): each is refused before anything is written, and a valid answer
afterwards still pays the order's 480.00, once. `fork --update` on a protected field needs an
override, which is recorded.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from tests.conftest import waypoint_cli
from tests.helpers import count, fresh_input, run
from waypoint.errors import PolicyRefused
from waypoint.guarded_graph import GuardedGraph
from waypoint.persistence.stores import open_stores
from waypoint.runner import resume_thread, start_run, thread_status
from waypoint.timetravel import fork_thread, thread_history
from waypoint.workflows import load_workflow

APPROVE = {"decisions": [{"type": "approve"}]}


def _waiting(db_url: str) -> tuple[str, dict[str, Any]]:
    report = run(start_run("support", fresh_input(db_url, "approval needed"), db_url=db_url))
    assert report.status == "waiting" and report.values["decision"]["amount"] == "480.00"
    return report.thread_id, report.values


def _forged(values: dict[str, Any]) -> dict[str, Any]:
    return {**values["decision"], "amount": "5000.00", "needs_approval": False}


def _checkpoints(db_url: str, thread_id: str) -> int:
    return count(db_url, "checkpoints", thread_id)


async def _attempt(db_url: str, thread_id: str, call: str, values: dict[str, Any]) -> None:
    workflow = load_workflow("support")
    async with open_stores(db_url) as stores:
        graph = workflow.compile(stores.checkpointer)
        assert isinstance(graph, GuardedGraph)
        config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
        context = {"approval_threshold": "100"}
        if call == "update_and_resume":
            command: Command[Any] = Command(update={"decision": _forged(values)}, resume=APPROVE)
            await graph.ainvoke(command, config, context=context)
        elif call == "goto_execute":
            await graph.ainvoke(Command(goto="execute"), config, context=context)
        elif call == "update_state":
            await graph.aupdate_state(config, {"decision": _forged(values)})
        elif call == "update_state_human":
            human = {"step": "approval", "decision": "approve", "answered_by": "boss"}
            await graph.aupdate_state(config, {"human": human}, as_node="approval")
        elif call == "loose_context":
            await graph.ainvoke(
                Command(resume=APPROVE), config, context={"approval_threshold": "100000"}
            )


@pytest.mark.parametrize(
    "call",
    ["update_and_resume", "goto_execute", "update_state", "update_state_human", "loose_context"],
)
def test_each_attack_is_refused_with_nothing_written(db_url: str, call: str) -> None:
    thread_id, values = _waiting(db_url)
    before = _checkpoints(db_url, thread_id)
    with pytest.raises(PolicyRefused) as refused:
        run(_attempt(db_url, thread_id, call, values))
    assert refused.value.exit_code == 2
    assert _checkpoints(db_url, thread_id) == before
    assert count(db_url, "support_payments", thread_id) == 0
    assert run(thread_status(thread_id, db_url=db_url)).status == "waiting"

    paid = run(resume_thread(thread_id, APPROVE, db_url=db_url))
    assert paid.values["resolution"]["refund_amount"] == "480.00"
    assert count(db_url, "support_payments", thread_id) == 1


def test_unprotected_fields_can_still_be_updated(db_url: str) -> None:
    thread_id, _ = _waiting(db_url)

    async def update() -> None:
        workflow = load_workflow("support")
        async with open_stores(db_url) as stores:
            graph = workflow.compile(stores.checkpointer)
            await graph.aupdate_state(
                {"configurable": {"thread_id": thread_id}}, {"message": "photos attached"}
            )

    run(update())
    assert run(thread_status(thread_id, db_url=db_url)).values["message"] == "photos attached"


def test_the_approver_is_the_actor_never_a_configurable_value(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAYPOINT_ACTOR", "alice")
    thread_id, _ = _waiting(db_url)

    async def approve_as_mallory() -> dict[str, Any]:
        workflow = load_workflow("support")
        async with open_stores(db_url) as stores:
            graph = workflow.compile(stores.checkpointer)
            config: RunnableConfig = {
                "configurable": {"thread_id": thread_id, "waypoint_actor": "mallory"}
            }
            state = await graph.aget_state(config)
            [interrupt] = state.interrupts
            result = await graph.ainvoke(Command(resume={interrupt.id: APPROVE}), config)
            assert isinstance(result, dict)
            return result

    result = run(approve_as_mallory())
    # no runner, no server: nobody authenticated, so nobody is recorded (never "mallory")
    assert result["human"]["answered_by"] is None

    thread_id, _ = _waiting(db_url)
    through_runner = run(resume_thread(thread_id, APPROVE, db_url=db_url))
    assert through_runner.values["human"]["answered_by"] == "alice"


def test_fork_of_a_protected_field_needs_a_recorded_override(db_url: str) -> None:
    thread_id, values = _waiting(db_url)
    head = run(thread_history(thread_id, db_url=db_url, limit=1)).rows[0].checkpoint_id
    goodwill = {**values["decision"], "amount": "20.00", "needs_approval": False}
    before = _checkpoints(db_url, thread_id)

    with pytest.raises(PolicyRefused) as refused:
        run(fork_thread(thread_id, head, {"decision": goodwill}, db_url=db_url, allow_effects=True))
    assert refused.value.field == "update.decision"
    assert _checkpoints(db_url, thread_id) == before

    forked = run(
        fork_thread(
            thread_id,
            head,
            {"decision": goodwill},
            db_url=db_url,
            override="goodwill amount agreed with the customer by phone",
            allow_effects=True,
        )
    )
    assert forked.report.next == ["execute"]
    done = run(resume_thread(thread_id, db_url=db_url))
    assert done.values["resolution"]["refund_amount"] == "20.00"

    audit = waypoint_cli("audit", thread_id, "--db", db_url, "--json")
    assert audit.returncode == 0, audit.stderr
    overrides = json.loads(audit.stdout)["overrides"]
    assert len(overrides) == 1
    assert "goodwill amount agreed" in overrides[0]["reason"]
    assert json.loads(overrides[0]["halt"])["fields"] == ["decision"]


def test_an_overridden_refund_above_the_order_total_is_still_not_paid(db_url: str) -> None:
    """Act last, check first: execute re-checks the amount against the order it rests on."""
    thread_id, values = _waiting(db_url)
    head = run(thread_history(thread_id, db_url=db_url, limit=1)).rows[0].checkpoint_id
    run(
        fork_thread(
            thread_id,
            head,
            {"decision": _forged(values)},
            db_url=db_url,
            override="testing the last line of defence",
            allow_effects=True,
        )
    )
    stopped = run(resume_thread(thread_id, db_url=db_url))
    assert stopped.status == "waiting"  # execute's ladder hands it to a human
    description = stopped.interrupts[0].value["action_requests"][0]["description"]
    assert "amount 5000.00 is not within (0, 480.00]" in description
    assert count(db_url, "support_payments", thread_id) == 0


def test_cli_fork_of_a_protected_field_exits_2(sqlite_url: str) -> None:
    thread_id, values = _waiting(sqlite_url)
    head = run(thread_history(thread_id, db_url=sqlite_url, limit=1)).rows[0].checkpoint_id
    update = json.dumps({"decision": _forged(values)})
    result = waypoint_cli("fork", thread_id, "--from", head, "--update", update, "--db", sqlite_url)
    assert result.returncode == 2, result.stderr
    assert "update.decision: protected" in result.stderr
    assert "--override --reason" in result.stderr
    no_reason = waypoint_cli(
        "fork", thread_id, "--from", head, "--update", update, "--override", "--db", sqlite_url
    )
    assert no_reason.returncode == 2 and "--override needs --reason" in no_reason.stderr

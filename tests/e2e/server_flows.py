"""The SDK flows both servers must pass (`langgraph dev` and Aegra), written once.

Runs are awaited with `runs.stream` (it ends when the run ends) rather than `runs.wait`, whose
Redis mode on Aegra polls every 2 s.
"""

from __future__ import annotations

import time
from typing import Any, cast

import pytest
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.schema import Command

from tests.e2e.servers import Server, Users, status_code
from tests.helpers import count, rows

TICKET = {
    "ticket_id": "T-200",
    "customer_id": "C-200",
    "order_id": "O-2",
    "message": "The chair is damaged, please refund it.",
}
"""C-200's order O-2 (480.00): above the approval threshold, so the run waits at `approval`."""

DECISIONS: dict[str, dict[str, Any]] = {
    "approve": {"type": "approve"},
    "edit": {"type": "edit", "edited_action": {"name": "issue_refund", "args": {"amount": "200"}}},
    "reject": {"type": "reject", "message": "Photos show no damage."},
    "respond": {"type": "respond", "message": "Please send a photo of the damage."},
}
"""One answer of each kind the approval step allows (LangChain's HITLResponse decisions)."""


def resume_with(decision: str) -> Command:
    """`Command(resume=HITLResponse)` answering the approval with one decision."""
    return {"resume": {"decisions": [DECISIONS[decision]]}}


OUTCOMES: dict[str, tuple[str, str, int]] = {
    "approve": ("refunded", "480.00", 1),
    "edit": ("refunded", "200.00", 1),
    "reject": ("rejected", "0.00", 0),
    "respond": ("closed_by_human", "0.00", 0),
}
"""decision → (resolution kind, amount paid, rows in support_payments)."""


def stream_run(client: SyncLangGraphClient, thread_id: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Start a `support` run on the thread and read its stream to the end."""
    parts = [(part.event, part.data) for part in client.runs.stream(thread_id, "support", **kwargs)]
    errors = [data for event, data in parts if event == "error"]
    assert not errors, errors
    return parts


def run_to_approval(client: SyncLangGraphClient) -> tuple[str, dict[str, Any]]:
    """A new thread whose `support` run stopped at the approval interrupt; its state."""
    thread_id = client.threads.create()["thread_id"]
    stream_run(client, thread_id, input=TICKET)
    state = plain(client.threads.get_state(thread_id))
    assert state["next"] == ["approval"], state
    return thread_id, state


def plain(response: Any) -> dict[str, Any]:
    """An SDK response (a TypedDict) as the plain JSON object it is."""
    assert isinstance(response, dict), response
    return cast(dict[str, Any], response)


def values(state: Any) -> dict[str, Any]:
    """A thread state's values, as a dict."""
    found = state["values"]
    assert isinstance(found, dict), found
    return found


def hitl_request(state: Any) -> dict[str, Any]:
    """The HITL request of the one pending interrupt."""
    interrupts = state.get("interrupts") or [
        i for task in state.get("tasks", []) for i in task.get("interrupts", [])
    ]
    assert len(interrupts) == 1, state
    value: dict[str, Any] = interrupts[0]["value"]
    return value


def lists_assistants(server: Server, users: Users) -> None:
    """Every authenticated user sees the graphs of langgraph.json, with their descriptions."""
    assistants = server.client(users.alice).assistants.search()
    by_graph = {a["graph_id"]: a for a in assistants}
    assert "support" in by_graph
    assert "refund desk" in str(by_graph["support"].get("description"))
    assert {a["graph_id"] for a in server.client(users.bob, scheme="x-api-key").assistants.search()}
    client = server.client(users.alice)
    assistant_id = by_graph["support"]["assistant_id"]
    # what Studio draws and shows: the conditional edges (routers have Literal return types)
    # and the run settings with their descriptions
    graph = plain(client.assistants.get_graph(assistant_id))
    edges = {(e["source"], e["target"], bool(e.get("conditional"))) for e in graph["edges"]}
    assert {("review_gate", "approval", True), ("approval", "execute", True)} <= edges, edges
    schemas = plain(client.assistants.get_schemas(assistant_id))
    settings = schemas["context_schema"]["properties"]
    assert "approval" in settings["approval_threshold"]["description"]
    assert set(schemas["input_schema"]["required"]) == {"ticket_id", "customer_id", "message"}


def runs_to_the_approval_interrupt(server: Server, users: Users, db_url: str) -> None:
    """The run stops at approval with an HITL request for `issue_refund`; nothing is paid yet."""
    client = server.client(users.alice)
    thread_id, state = run_to_approval(client)
    request = hitl_request(state)
    action = request["action_requests"][0]
    assert action["name"] == "issue_refund"
    assert action["args"]["amount"] == "480.00"
    assert set(request["review_configs"][0]["allowed_decisions"]) == set(DECISIONS)
    assert state["values"]["decision"]["needs_approval"] is True
    thread = plain(client.threads.get(thread_id))
    assert thread["status"] == "interrupted"
    assert thread["metadata"]["owner"] == users.alice.name
    assert count(db_url, "support_payments", thread_id) == 0


def resumes_with(decision: str, server: Server, users: Users, db_url: str) -> None:
    """Resume with `Command(resume=HITLResponse)`; the outcome and payments match the decision."""
    client = server.client(users.alice)
    thread_id, _ = run_to_approval(client)
    stream_run(client, thread_id, command=resume_with(decision))
    state = plain(client.threads.get_state(thread_id))
    kind, amount, payments = OUTCOMES[decision]
    assert state["next"] == [], state
    values = state["values"]
    assert values["human"]["decision"] == decision
    assert values["resolution"]["kind"] == kind, values
    assert values["resolution"]["refund_amount"] == amount
    paid = rows(db_url, "support_payments", thread_id)
    assert len(paid) == payments
    if payments:
        assert str(paid[0]["amount"]) == amount
    if decision == "respond":
        sent = rows(db_url, "support_outbox", thread_id)
        assert [row["body"] for row in sent] == [DECISIONS["respond"]["message"]]


def reads_history_and_forks(server: Server, users: Users, db_url: str) -> None:
    """History lists every checkpoint; a fork before `lookup` with another order escalates."""
    client = server.client(users.alice)
    thread_id, _ = run_to_approval(client)
    history = [plain(h) for h in client.threads.get_history(thread_id, limit=100)]
    sources = [h["metadata"]["source"] for h in history]
    assert sources[-1] == "input" and set(sources) <= {"input", "loop"}
    nexts = [tuple(h["next"]) for h in reversed(history)]
    assert nexts[:3] == [("__start__",), ("intake",), ("classify",)]
    assert nexts[-1] == ("approval",)
    before_lookup = next(h for h in history if h["next"] == ["lookup"])
    checkpoint_id = before_lookup["checkpoint"]["checkpoint_id"]

    client.threads.update_state(
        thread_id,
        {"order_id": "O-1"},  # C-100's order, not C-200's: lookup must escalate, not guess
        as_node="classification_gate",
        checkpoint_id=checkpoint_id,
    )
    forked = plain(client.threads.get_state(thread_id))
    assert forked["next"] == ["lookup"]
    assert forked["metadata"]["source"] == "update"
    assert forked["parent_checkpoint"]["checkpoint_id"] == checkpoint_id

    # continue the branch from its head (Aegra wants the checkpoint named when there is no input)
    stream_run(client, thread_id, input=None, checkpoint_id=forked["checkpoint"]["checkpoint_id"])
    state = plain(client.threads.get_state(thread_id))
    assert state["next"] == ["escalate"], state
    assert hitl_request(state)["action_requests"][0]["name"] == "handle_ticket"
    assert "belongs to another customer" in " ".join(state["values"]["lookup"]["problems"])
    after = [plain(h) for h in client.threads.get_history(thread_id, limit=100)]
    assert len(after) > len(history)
    assert any(h["checkpoint"]["checkpoint_id"] == checkpoint_id for h in after)
    assert count(db_url, "support_payments", thread_id) == 0


def streams_a_run(server: Server, users: Users) -> None:
    """`runs.stream` yields each node's update in order, then the interrupt."""
    client = server.client(users.alice)
    thread_id = client.threads.create()["thread_id"]
    parts = stream_run(client, thread_id, input=TICKET, stream_mode="updates")
    assert parts[0][0] == "metadata"
    updates = [data for event, data in parts if event == "updates"]
    nodes = [name for update in updates for name in update]
    assert nodes[:7] == [
        "intake",
        "classify",
        "classification_gate",
        "lookup",
        "decide",
        "draft",
        "review_gate",
    ], nodes
    assert nodes[-1] == "__interrupt__"
    interrupt = updates[-1]["__interrupt__"][0]["value"]
    assert interrupt["action_requests"][0]["name"] == "issue_refund"


def _refused(call: Any) -> int | None:
    try:
        call()
    except Exception as exc:  # the SDK raises httpx / langgraph_sdk errors
        return status_code(exc)
    return 200


def second_user_cannot_touch_the_thread(server: Server, users: Users, db_url: str) -> None:
    """Bob cannot list, read, run, resume, fork, copy or delete Alice's thread: 404 or 403."""
    alice = server.client(users.alice)
    bob = server.client(users.bob, scheme="x-api-key")
    thread_id, state = run_to_approval(alice)
    run_id = alice.runs.list(thread_id)[0]["run_id"]
    checkpoint_id = state["checkpoint"]["checkpoint_id"]

    assert thread_id not in {t["thread_id"] for t in bob.threads.search(limit=100)}
    assert thread_id in {t["thread_id"] for t in alice.threads.search(limit=100)}
    resume = resume_with("approve")
    attempts = {
        "get": lambda: bob.threads.get(thread_id),
        "state": lambda: bob.threads.get_state(thread_id),
        "history": lambda: bob.threads.get_history(thread_id),
        "run": lambda: bob.runs.create(thread_id, "support", input=TICKET),
        "resume": lambda: bob.runs.create(thread_id, "support", command=resume),
        "fork": lambda: bob.threads.update_state(
            thread_id, {"order_id": "O-1"}, as_node="classification_gate"
        ),
        "fork_past": lambda: bob.threads.update_state(
            thread_id, {"order_id": "O-1"}, checkpoint_id=checkpoint_id
        ),
        "runs": lambda: bob.runs.list(thread_id),
        "run_get": lambda: bob.runs.get(thread_id, run_id),
        "join": lambda: bob.runs.join(thread_id, run_id),
        "cancel": lambda: bob.runs.cancel(thread_id, run_id),
        "delete": lambda: bob.threads.delete(thread_id),
        "update": lambda: bob.threads.update(thread_id, metadata={"owner": "bob"}),
    }
    answers = {name: _refused(call) for name, call in attempts.items()}
    # `runs.list` of a thread that is not yours may answer with an empty list instead
    if answers["runs"] == 200:
        answers["runs"] = 404 if bob.runs.list(thread_id) == [] else 200
    assert all(code in (403, 404) for code in answers.values()), answers

    copied = _refused(lambda: bob.threads.copy(thread_id))
    assert copied in (403, 404, 409), copied

    taken = _refused(lambda: bob.threads.create(thread_id=thread_id, if_exists="do_nothing"))
    if taken == 200:  # a server may answer "exists" with the caller's view: never Alice's data
        seen = bob.threads.create(thread_id=thread_id, if_exists="do_nothing")
        assert (seen.get("metadata") or {}).get("owner") != users.alice.name
        assert "values" not in seen or not seen["values"]
    else:
        assert taken in (403, 404, 409), taken

    # Alice's thread is untouched and still waiting for her
    after = alice.threads.get_state(thread_id)
    assert after["checkpoint"]["checkpoint_id"] == checkpoint_id
    assert after["next"] == ["approval"]
    assert (alice.threads.get(thread_id).get("metadata") or {})["owner"] == users.alice.name
    assert count(db_url, "support_payments", thread_id) == 0


def reviewer_answers_and_does_nothing_else(server: Server, users: Users, db_url: str) -> None:
    """Carol reviews `support`: she finds Alice's waiting thread and answers it, nothing more.

    She may list and read it and answer its question (a `resume` command); new input, a
    state edit or a delete stays 404/403. The answer records her and her role.
    """
    alice = server.client(users.alice)
    carol = server.client(users.carol)
    thread_id, state = run_to_approval(alice)
    assert thread_id in {t["thread_id"] for t in carol.threads.search(limit=100)}
    assert plain(carol.threads.get_state(thread_id))["next"] == ["approval"]
    attempts = {
        "run": lambda: carol.runs.create(thread_id, "support", input=TICKET),
        "fork": lambda: carol.threads.update_state(thread_id, {"order_id": "O-1"}),
        "delete": lambda: carol.threads.delete(thread_id),
        "update": lambda: carol.threads.update(thread_id, metadata={"owner": "carol"}),
    }
    answers = {name: _refused(call) for name, call in attempts.items()}
    assert all(code in (403, 404) for code in answers.values()), answers
    assert plain(alice.threads.get_state(thread_id))["checkpoint"] == state["checkpoint"]

    stream_run(carol, thread_id, command=resume_with("approve"))
    done = values(alice.threads.get_state(thread_id))
    assert done["resolution"]["kind"] == "refunded", done
    assert done["human"]["answered_by"] == users.carol.name
    answered: list[str] = []
    for _ in range(50):  # the server settles the run's ledger rows as the run ends
        answered = [
            r["human_decision"]
            for r in rows(db_url, "waypoint_ledger", thread_id)
            if r.get("human_decision")
        ]
        if answered:
            break
        time.sleep(0.1)
    assert len(answered) == 1 and '"answered_as": "reviewer"' in answered[0], answered
    # Bob reviews nothing: Alice's threads stay out of his sight
    assert thread_id not in {t["thread_id"] for t in server.client(users.bob).threads.search()}


def _posted(client: SyncLangGraphClient, path: str, body: dict[str, Any]) -> int | None:
    """POST a raw body (the SDK would drop nulls and empty commands); the HTTP status."""
    return _refused(lambda: client.http.post(path, json=body))


def caller_is_never_above_the_policy(server: Server, users: Users, db_url: str) -> None:
    """The owner of a waiting thread cannot raise the amount, skip the approval, loosen the
    policy or pose as another approver; malformed answers are 422 and brick nothing."""
    client = server.client(users.alice)
    thread_id, state = run_to_approval(client)
    checkpoint_id = state["checkpoint"]["checkpoint_id"]
    forged = {**state["values"]["decision"], "amount": "5000.00", "needs_approval": False}
    runs = f"/threads/{thread_id}/runs"
    approve = {"decisions": [{"type": "approve"}]}
    codes = {
        "update_decision": _posted(
            client,
            runs,
            {
                "assistant_id": "support",
                "command": {"update": {"decision": forged}, "resume": approve},
            },
        ),
        "goto_execute": _posted(
            client, runs, {"assistant_id": "support", "command": {"goto": "execute"}}
        ),
        "actor": _posted(
            client,
            runs,
            {
                "assistant_id": "support",
                "command": {"resume": approve},
                "config": {"configurable": {"waypoint_actor": "mallory"}},
            },
        ),
        "loose_context": _posted(
            client,
            runs,
            {
                "assistant_id": "support",
                "command": {"resume": approve},
                "context": {"approval_threshold": "100000"},
            },
        ),
        "state_update": _refused(
            lambda: client.threads.update_state(thread_id, {"decision": forged})
        ),
        "resume_null": _posted(
            client, runs, {"assistant_id": "support", "command": {"resume": None}}
        ),
        "empty_command": _posted(client, runs, {"assistant_id": "support", "command": {}}),
        "no_decisions": _posted(
            client, runs, {"assistant_id": "support", "command": {"resume": {"decisions": []}}}
        ),
    }
    assert codes == {
        "update_decision": 403,
        "goto_execute": 403,
        "actor": 403,
        "loose_context": 403,
        "state_update": 403,
        "resume_null": 422,
        "empty_command": 422,
        "no_decisions": 422,
    }, codes
    new_thread = client.threads.create()["thread_id"]
    loose_start = _posted(
        client,
        f"/threads/{new_thread}/runs",
        {"assistant_id": "support", "input": TICKET, "context": {"approval_threshold": 100000}},
    )
    assert loose_start == 403
    assert client.threads.get_state(new_thread)["values"] in ({}, None, [])
    # input: every problem at once, unknown keys named, against the input schema (not the state)
    misspelt = {k: v for k, v in TICKET.items() if k != "customer_id"} | {"custmer_id": "C-200"}
    try:
        client.http.post(f"/threads/{new_thread}/runs", json={"assistant_id": "support",
                                                               "input": misspelt})  # fmt: skip
    except Exception as exc:
        assert status_code(exc) == 422, exc
        detail = str(getattr(getattr(exc, "response", None), "text", "") or exc)
    else:
        raise AssertionError("a misspelt input key was accepted")
    assert "input.custmer_id: unknown field" in detail, detail
    assert "input.customer_id" in detail and "input schema TicketInput" in detail, detail
    assert client.threads.get_state(new_thread)["values"] in ({}, None, [])

    # nothing moved: the thread still waits at its approval, nothing was paid
    after = plain(client.threads.get_state(thread_id))
    assert after["checkpoint"]["checkpoint_id"] == checkpoint_id and after["next"] == ["approval"]
    assert plain(client.threads.get(thread_id))["status"] == "interrupted"
    assert count(db_url, "support_payments", thread_id) == 0

    # a valid answer still goes through: 480.00, once, approved by the authenticated user
    stream_run(client, thread_id, command=resume_with("approve"))
    done = values(plain(client.threads.get_state(thread_id)))
    assert done["resolution"]["refund_amount"] == "480.00"
    assert done["human"]["answered_by"] == users.alice.name
    assert [str(r["amount"]) for r in rows(db_url, "support_payments", thread_id)] == ["480.00"]


def no_credentials_is_401(server: Server, users: Users) -> None:
    """No token, a wrong token, or a wrong scheme: 401 on every endpoint."""
    anonymous = server.client(None)
    wrong = server.client(users.alice.__class__("mallory", "not-a-real-token-000000000"))
    for client in (anonymous, wrong):
        for call in (
            client.assistants.search,
            client.threads.search,
            client.threads.create,
            lambda c=client: c.runs.create(None, "support", input=TICKET),
        ):
            assert _refused(call) == 401
    basic = _refused(
        lambda: server.client(None).http.get("/threads/x", headers={"Authorization": "Basic YTpi"})
    )
    assert basic == 401


def fail_if_dead(server: Server) -> None:
    """Fail with the server's log when it died during a test."""
    if not server.alive():
        pytest.fail(f"{server.name} died:\n{server.log_tail()}")


# --- research: long-term memory in the server's Store ------------------------------------------

RESEARCH_FIRST = {"question": "What does json.dumps do?", "max_sub_questions": 2}
RESEARCH_LATER = {"question": "How do json.dumps and pickle.dumps differ?", "max_sub_questions": 3}
"""Two questions whose plans share sub-question q1 (`json.dumps`): the later one reuses it."""

RESEARCH_SHORT_LIVED = {"question": "What does heapq.heappush do?", "max_sub_questions": 2}


def research(
    client: SyncLangGraphClient, raw: dict[str, Any], **kwargs: Any
) -> tuple[str, dict[str, Any]]:
    """A new thread whose `research` run finished (read to the end of its stream); its values."""
    thread_id = client.threads.create()["thread_id"]
    parts = [
        (part.event, part.data)
        for part in client.runs.stream(thread_id, "research", input=raw, **kwargs)
    ]
    errors = [data for event, data in parts if event == "error"]
    assert not errors, errors
    state = plain(client.threads.get_state(thread_id))
    assert state["next"] == [], state
    found = values(state)
    assert found.get("outcome") == "accepted", found
    return thread_id, found


def reused(found: dict[str, Any]) -> dict[str, str | None]:
    """sub-question id → the thread its finding was reused from (None: researched here)."""
    return {f["sub_question_id"]: f["reused_from"] for f in found["findings"]}


def research_memory_is_per_user(server: Server, users: Users) -> dict[str, str]:
    """A later thread of the same caller reuses a kept finding and says so in its brief; another
    caller asking the same question reuses nothing; the first caller searches, gets and lists
    its findings through the Store API (also with no prefix, scoped to its own), the other gets
    403 for each and sees only its own; an expired finding is not reused.

    Returns the threads it ran, by role (`first`, `later`, `other`, `expired`), for the server's
    own checks of where the findings were kept.
    """
    alice, bob = server.client(users.alice), server.client(users.bob)
    first, found = research(alice, RESEARCH_FIRST)
    assert set(reused(found).values()) == {None}, found["findings"]
    later, found = research(alice, RESEARCH_LATER)
    assert reused(found) == {"q1": first, "q2": None, "q3": None}, found["findings"]
    assert f"Reused from memory: q1 (thread {first})" in found["brief"]["text"]
    assert found["gate_verdicts"][-1]["passed"], found["gate_verdicts"]

    other, found = research(bob, RESEARCH_LATER)  # the same question, another caller
    assert set(reused(found).values()) == {None}, found["findings"]
    assert "from memory" not in found["brief"]["text"]
    # the findings live under ("users", caller, "research", "findings") on both servers: the
    # caller reads them through the Store API, nobody else may
    alices = ["users", users.alice.name, "research", "findings"]
    bobs = ["users", users.bob.name, "research", "findings"]
    items = alice.store.search_items(alices, limit=50)["items"]
    kept = {item["value"]["thread_id"] for item in items}
    assert {first, later} <= kept and other not in kept, kept
    assert all(item["namespace"] == alices for item in items), items
    one = items[0]
    got = alice.store.get_item(alices, one["key"])
    assert got is not None and got["value"] == one["value"], got
    assert got["value"]["finding"]["question"], got
    unprefixed = alice.store.search_items([], limit=50)["items"]  # scoped to her own
    assert {i["key"] for i in unprefixed} >= {i["key"] for i in items}, unprefixed
    assert all(i["namespace"][:2] == alices[:2] for i in unprefixed), unprefixed
    assert alices in alice.store.list_namespaces()["namespaces"]

    assert _refused(lambda: bob.store.search_items(alices)) == 403
    assert _refused(lambda: bob.store.get_item(alices, one["key"])) == 403
    assert _refused(lambda: bob.store.list_namespaces(prefix=alices)) == 403
    assert _refused(lambda: bob.store.put_item(alices, "planted", {"x": 1})) == 403
    assert _refused(lambda: bob.store.delete_item(alices, one["key"])) == 403
    assert _refused(lambda: bob.store.search_items(["users"])) == 403  # every user's
    assert _refused(lambda: bob.store.search_items([users.alice.name])) == 403  # old layout
    listed = bob.store.list_namespaces()["namespaces"]  # no prefix: Bob's own only
    assert listed == [bobs], listed
    bob_items = bob.store.search_items([], limit=50)["items"]
    assert bob_items and {i["value"]["thread_id"] for i in bob_items} == {other}, bob_items
    assert alice.store.get_item(alices, one["key"]) is not None  # Bob's delete changed nothing

    # kept for about 0.1 s: a later thread researches it again
    expired, _ = research(alice, RESEARCH_SHORT_LIVED, context={"memory_ttl_minutes": 0.002})
    time.sleep(0.3)
    _, found = research(alice, RESEARCH_SHORT_LIVED)
    assert set(reused(found).values()) == {None}, found["findings"]
    return {"first": first, "later": later, "other": other, "expired": expired}

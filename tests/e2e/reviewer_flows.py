"""A reviewer answers another user's question through the served app, on either server.

Alice's thread waits at a question of the kit's `deadlines` workflow, which Carol reviews
(`WAYPOINT_ROLES`). Carol finds it in `GET /inbox` and answers it with `POST /inbox/answer`;
Bob, who reviews nothing, neither sees nor answers it (404), and the LangGraph API still gives
Carol 404 for the thread on Aegra, which scopes threads to their creator in its own queries:
the app's route reaches the thread through the server's service credential acting for Alice,
and the ledger records Carol, as `reviewer`.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.e2e.server_sweeps import ask_deadline, decisions_of
from tests.e2e.servers import Server, User, Users
from tests.helpers import query


def reviewer_roles(users: Users) -> str:
    """`WAYPOINT_ROLES` for these servers: Carol reviews the kit's `deadlines` workflow."""
    return f"{users.carol.name}=reviewer:deadlines"  # as `aegra_sweep_cluster` says too


def _inbox_items(server: Server, user: User, graph: str = "deadlines") -> list[dict[str, Any]]:
    got = httpx.get(
        f"{server.url}/inbox",
        params={"graph": graph},
        headers={"Authorization": f"Bearer {user.token}"},
        timeout=60,
    )
    assert got.status_code == 200, got.text
    items: list[dict[str, Any]] = got.json()["items"]
    return items


def _inbox(server: Server, user: User, graph: str = "deadlines") -> list[str]:
    return [item["thread_id"] for item in _inbox_items(server, user, graph)]


def _answer(server: Server, user: User, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{server.url}/inbox/answer",
        json=body,
        headers={"Authorization": f"Bearer {user.token}"},
        timeout=120,
    )


def reviewer_answers_through_the_app(server: Server, users: Users, db_url: str) -> None:
    """The flow (see the module docstring)."""
    thread = ask_deadline(server, users, on_timeout="reject", seconds=3600)
    approve = {"thread_id": thread, "answer": {"decisions": [{"type": "approve"}]}}

    assert thread in _inbox(server, users.alice)
    assert thread in _inbox(server, users.carol)
    assert thread not in _inbox(server, users.bob)
    refused = _answer(server, users.bob, approve)
    assert refused.status_code == 404, refused.text
    malformed = _answer(server, users.carol, {"thread": thread, "answer": approve["answer"]})
    assert malformed.status_code == 422 and malformed.json()["field"] == "thread", malformed.text

    answered = _answer(server, users.carol, approve)
    assert answered.status_code == 200, answered.text
    done = answered.json()
    assert done["status"] == "completed", done
    assert (done["output"]["outcome"], done["output"]["acted"]) == ("approve", True)
    [decision] = decisions_of(db_url, thread)
    assert (decision["answered_by"], decision["answered_as"]) == ("carol", "reviewer")
    [handoff] = query(
        db_url, "SELECT answered_by FROM waypoint_handoffs WHERE thread_id = ?", (thread,)
    )
    assert handoff["answered_by"] == "carol"
    again = _answer(server, users.carol, approve)  # nothing waits any more
    assert again.status_code == 422, again.text
    assert thread not in _inbox(server, users.carol)
    runs = server.client(users.alice).runs.list(thread)
    assert len(runs) == 2  # Alice's run and the one answer


def escalated_user_answers_through_the_app(server: Server, users: Users, db_url: str) -> None:
    """Alice's question passes its deadline and goes to Bob, who reviews nothing: before that
    Bob may not answer it (404); after, he finds it in his inbox and answers it, that question
    only, and the ledger records him as `escalation`."""
    thread = ask_deadline(server, users, on_timeout="escalate", escalate_to="bob", seconds=2)
    approve = {"thread_id": thread, "answer": {"decisions": [{"type": "approve"}]}}
    early = _answer(server, users.bob, approve)
    assert early.status_code == 404, early.text  # not his yet

    deadline = time.monotonic() + 60
    while thread not in _inbox(server, users.bob):  # the server's sweep worker hands it over
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.3)
    [handoff] = query(
        db_url, "SELECT handoff_id, on_timeout FROM waypoint_handoffs WHERE thread_id = ?",
        (thread,),
    )  # fmt: skip
    assert handoff["on_timeout"] == "escalated:bob"
    other = _answer(server, users.bob, {**approve, "interrupt_id": "not-this-one"})
    assert other.status_code == 404, other.text  # only the question handed to him

    answered = _answer(server, users.bob, approve)
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "completed"
    [decision] = decisions_of(db_url, thread)
    assert (decision["answered_by"], decision["answered_as"]) == ("bob", "escalation")
    assert decision["decision"] == "approve"
    assert thread not in _inbox(server, users.bob)
    again = _answer(server, users.bob, approve)  # answered: the escalation is over
    assert again.status_code == 404, again.text


def escalated_user_sees_only_the_question_handed_to_them(
    server: Server, users: Users, db_url: str
) -> None:
    """Two questions wait in one of Alice's threads (kit graph `two_questions`); only `ask_a`
    passes its deadline and goes to Bob. His inbox lists that one and not `ask_b`, whichever
    was asked first; his answer goes to it; naming `ask_b` is 404."""
    alice = server.client(users.alice)
    thread = str(alice.threads.create()["thread_id"])
    given: dict[str, Any] = {"topic": "escalation", "escalate_a_to": users.bob.name, "seconds": 2}
    for _ in alice.runs.stream(thread, "two_questions", input=dict(given), stream_mode="updates"):
        pass
    deadline = time.monotonic() + 60
    while thread not in _inbox(server, users.bob, graph="two_questions"):
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.3)
    asked = {
        str(row["node"]): str(row["handoff_id"])
        for row in query(
            db_url, "SELECT node, handoff_id FROM waypoint_handoffs WHERE thread_id = ?", (thread,)
        )
    }
    listed = _inbox_items(server, users.bob, graph="two_questions")
    # the served run names the node that asked each question, as the command line's does
    assert [(i["interrupt_id"], i["node"]) for i in listed if i["thread_id"] == thread] == [
        (asked["ask_a"], "ask_a")
    ]
    mine = _inbox_items(server, users.alice, graph="two_questions")
    assert {i["interrupt_id"] for i in mine if i["thread_id"] == thread} == set(asked.values())

    approve = {"decisions": [{"type": "approve"}]}
    other = _answer(
        server, users.bob, {"thread_id": thread, "interrupt_id": asked["ask_b"], "answer": approve}
    )
    assert other.status_code == 404, other.text
    answered = _answer(server, users.bob, {"thread_id": thread, "answer": approve})
    assert answered.status_code == 200, answered.text
    assert [p["interrupt_id"] for p in answered.json()["pending"]] == [asked["ask_b"]]
    [decision] = decisions_of(db_url, thread, node="ask_a")
    assert (decision["answered_by"], decision["answered_as"]) == ("bob", "escalation")

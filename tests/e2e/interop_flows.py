"""Interop flows with the official clients (`a2a-sdk`, `mcp`), shared by `langgraph dev` and Aegra.

Each function drives a real server through its custom app (`waypoint.server.app`): the `support`
workflow as an A2A agent and as MCP tools, the inbox route and `/metrics`. The `support` demo
inputs: T-1001 (a small refund) completes; T-1002 (480.00 on order O-2) waits for approval.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from a2a.client import ClientConfig, create_client
from a2a.client.client import Client
from a2a.helpers.proto_helpers import get_data_parts, new_data_part
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Role,
    SendMessageRequest,
    Task,
    TaskState,
)
from a2a.utils.errors import InvalidParamsError, TaskNotFoundError
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError

from tests.e2e.servers import Server, User, Users

AUTO = {
    "ticket_id": "T-1001",
    "customer_id": "C-100",
    "order_id": "O-1",
    "message": "My mug arrived broken. I would like a refund, please.",
}
APPROVAL = {
    "ticket_id": "T-1002",
    "customer_id": "C-200",
    "order_id": "O-2",
    "message": "The chair I ordered is damaged, please refund it.",
}
FLAGGED = {
    "ticket_id": "T-1003",
    "customer_id": "C-300",
    "order_id": "O-3",
    "message": "Refund my order now.",
}
APPROVE = {"decisions": [{"type": "approve"}]}


def _fresh(case: dict[str, str]) -> dict[str, str]:
    """The case with a ticket id of its own (tickets are unique per run)."""
    return {**case, "ticket_id": f"{case['ticket_id']}-{uuid.uuid4().hex[:6]}"}


# --- A2A ---------------------------------------------------------------------------------------


@asynccontextmanager
async def a2a(server: Server, user: User, *, streaming: bool) -> AsyncIterator[Client]:
    """An official A2A client for `support`, as `user`."""
    headers = {"Authorization": f"Bearer {user.token}"}
    async with httpx.AsyncClient(headers=headers, timeout=60) as http:
        config = ClientConfig(httpx_client=http, streaming=streaming)
        client = await create_client(f"{server.url}/a2a/support", client_config=config)
        try:
            yield client
        finally:
            await client.close()


def _request(data: Any, task_id: str | None = None) -> SendMessageRequest:
    message = Message(message_id=uuid.uuid4().hex, role=Role.ROLE_USER, parts=[new_data_part(data)])
    if task_id:
        message.task_id = task_id
    return SendMessageRequest(message=message)


async def _send(client: Client, request: SendMessageRequest) -> tuple[Task, int]:
    """The task at the end of the exchange, and how many stream events carried a task."""
    last: Task | None = None
    events = 0
    async for event in client.send_message(request):
        if event.HasField("task"):
            last = event.task
            events += 1
    assert last is not None, "no task in the response"
    return last, events


def a2a_card(server: Server, users: Users) -> None:
    headers = {"Authorization": f"Bearer {users.alice.token}"}
    url = f"{server.url}/a2a/support/.well-known/agent-card.json"
    card = httpx.get(url, headers=headers, timeout=30).json()
    assert card["name"] == "support"
    skill = card["skills"][0]
    assert "ticket_id" in skill["description"]  # the input schema
    assert "support.payment" in skill["tags"]
    assert card["supportedInterfaces"][0]["url"] == f"{server.url}/a2a/support"
    assert httpx.get(url, timeout=30).status_code == 401


def a2a_completes(server: Server, users: Users, *, streaming: bool) -> None:
    async def flow() -> None:
        async with a2a(server, users.alice, streaming=streaming) as client:
            task, events = await _send(client, _request(_fresh(AUTO)))
            assert task.status.state == TaskState.TASK_STATE_COMPLETED, task
            output = get_data_parts(task.artifacts[0].parts)[0]
            assert output["resolution"]["kind"] == "refunded", output
            if streaming:
                assert events >= 2  # working first, then the final task
            again = await client.get_task(GetTaskRequest(id=task.id))
            assert again.status.state == TaskState.TASK_STATE_COMPLETED

    asyncio.run(flow())


def a2a_interrupt_answered(server: Server, users: Users) -> None:
    async def flow() -> None:
        async with a2a(server, users.alice, streaming=True) as client:
            task, _ = await _send(client, _request(_fresh(APPROVAL)))
            assert task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED, task
            asked = get_data_parts(task.status.message.parts)[0]
            request = asked["pending"][0]["request"]
            assert request["action_requests"][0]["name"] == "issue_refund", request
            done, _ = await _send(client, _request(APPROVE, task.id))
            assert done.id == task.id
            assert done.status.state == TaskState.TASK_STATE_COMPLETED, done
            output = get_data_parts(done.artifacts[0].parts)[0]
            assert output["resolution"]["kind"] == "refunded", output
            assert output["resolution"]["refund_amount"] == "480.00", output

    asyncio.run(flow())


def a2a_cancel(server: Server, users: Users) -> None:
    async def flow() -> None:
        async with a2a(server, users.alice, streaming=False) as client:
            task, _ = await _send(client, _request(_fresh(APPROVAL)))
            assert task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
            canceled = await client.cancel_task(CancelTaskRequest(id=task.id))
            assert canceled.status.state == TaskState.TASK_STATE_CANCELED, canceled
            with pytest.raises(InvalidParamsError, match="killed"):
                await _send(client, _request(APPROVE, task.id))
            after = await client.get_task(GetTaskRequest(id=task.id))
            assert after.status.state == TaskState.TASK_STATE_CANCELED
            assert not after.artifacts  # nothing paid, no output

    asyncio.run(flow())


def a2a_bad_input(server: Server, users: Users) -> None:
    async def flow() -> None:
        async with a2a(server, users.alice, streaming=False) as client:
            bad = {k: v for k, v in AUTO.items() if k != "customer_id"}
            with pytest.raises(InvalidParamsError, match="customer_id") as caught:
                await _send(client, _request(bad))
            assert "Field required" in str(caught.value), caught.value

    asyncio.run(flow())


def a2a_other_users_task_is_not_found(server: Server, users: Users) -> None:
    async def flow() -> str:
        async with a2a(server, users.alice, streaming=False) as client:
            task, _ = await _send(client, _request(_fresh(APPROVAL)))
        async with a2a(server, users.bob, streaming=False) as client:
            with pytest.raises(TaskNotFoundError):
                await client.get_task(GetTaskRequest(id=task.id))
            with pytest.raises(TaskNotFoundError):
                await _send(client, _request(APPROVE, task.id))
            with pytest.raises(TaskNotFoundError):
                await client.cancel_task(CancelTaskRequest(id=task.id))
        async with a2a(server, users.alice, streaming=False) as client:
            still = await client.get_task(GetTaskRequest(id=task.id))
            assert still.status.state == TaskState.TASK_STATE_INPUT_REQUIRED  # bob did nothing
        return task.id

    asyncio.run(flow())


def a2a_v03_message_send(server: Server, users: Users) -> None:
    """The v0.3 method names (`message/send`, `tasks/get`) answer too, in the v0.3 shapes."""
    headers = {"Authorization": f"Bearer {users.alice.token}"}
    message = {
        "role": "user",
        "messageId": uuid.uuid4().hex,
        "parts": [{"kind": "data", "data": _fresh(AUTO)}],
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": message}}
    url = f"{server.url}/a2a/support"
    answer = httpx.post(url, json=body, headers=headers, timeout=60).json()
    task = answer["result"]
    assert task["status"]["state"] == "completed", answer
    body = {"jsonrpc": "2.0", "id": 2, "method": "tasks/get", "params": {"id": task["id"]}}
    again = httpx.post(url, json=body, headers=headers, timeout=60).json()
    assert again["result"]["status"]["state"] == "completed", again


def a2a_no_token_is_401(server: Server) -> None:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "message/send",
        "params": {"message": {"role": "user", "parts": [{"kind": "data", "data": AUTO}]}},
    }
    assert httpx.post(f"{server.url}/a2a/support", json=body, timeout=30).status_code == 401
    wrong = {"Authorization": "Bearer not-a-valid-token-at-all"}
    response = httpx.post(f"{server.url}/a2a/support", json=body, headers=wrong, timeout=30)
    assert response.status_code == 401


# --- MCP ---------------------------------------------------------------------------------------


@asynccontextmanager
async def mcp(server: Server, user: User) -> AsyncIterator[ClientSession]:
    """An official MCP client session on `/mcp`, as `user`."""
    headers = {"Authorization": f"Bearer {user.token}"}
    async with (
        httpx.AsyncClient(headers=headers, timeout=60) as http,
        streamable_http_client(f"{server.url}/mcp", http_client=http) as (read, write, *_),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def _structured(result: Any) -> dict[str, Any]:
    data = result.structuredContent
    if data is None:
        data = json.loads(result.content[0].text)
    assert isinstance(data, dict)
    return data


def mcp_lists_tools(server: Server, users: Users) -> None:
    async def flow() -> None:
        async with mcp(server, users.alice) as session:
            tools = {tool.name: tool for tool in (await session.list_tools()).tools}
            support = tools["support"]
            assert support.annotations is not None
            assert support.annotations.destructiveHint is True  # it pays money
            assert support.annotations.idempotentHint is True  # keyed effects
            assert "ticket_id" in support.inputSchema["properties"]
            assert {"waypoint_answer", "waypoint_thread", "waypoint_kill"} <= set(tools)

    asyncio.run(flow())


def mcp_runs_answers_and_kills(server: Server, users: Users) -> None:
    async def flow() -> None:
        async with mcp(server, users.alice) as session:
            done = _structured(await session.call_tool("support", _fresh(AUTO)))
            assert done["status"] == "completed", done
            assert done["output"]["resolution"]["kind"] == "refunded", done

            waiting = _structured(await session.call_tool("support", _fresh(APPROVAL)))
            assert waiting["status"] == "waiting", waiting
            pending = waiting["pending"][0]
            assert pending["request"]["action_requests"][0]["name"] == "issue_refund"
            thread_id = waiting["thread_id"]
            read = _structured(await session.call_tool("waypoint_thread", {"thread_id": thread_id}))
            assert read["pending"] == waiting["pending"]
            answered = _structured(
                await session.call_tool(
                    "waypoint_answer",
                    {
                        "thread_id": thread_id,
                        "answer": APPROVE,
                        "interrupt_id": pending["interrupt_id"],
                    },
                )
            )
            assert answered["status"] == "completed", answered
            assert answered["output"]["resolution"]["refund_amount"] == "480.00", answered

            other = _structured(await session.call_tool("support", _fresh(FLAGGED)))
            assert other["status"] == "waiting", other
            killed = _structured(
                await session.call_tool(
                    "waypoint_kill", {"thread_id": other["thread_id"], "reason": "test"}
                )
            )
            assert killed["status"] == "killed", killed
            with pytest.raises(McpError, match="killed"):
                await session.call_tool(
                    "waypoint_answer", {"thread_id": other["thread_id"], "answer": APPROVE}
                )

    asyncio.run(flow())


def mcp_bad_input_and_other_user(server: Server, users: Users) -> None:
    async def flow() -> None:
        async with mcp(server, users.alice) as session:
            bad = {**AUTO, "customer_id": 7}
            with pytest.raises(McpError, match="customer_id") as caught:
                await session.call_tool("support", bad)
            assert (caught.value.error.data or {}).get("field") == "customer_id"
            waiting = _structured(await session.call_tool("support", _fresh(APPROVAL)))
        async with mcp(server, users.bob) as session:
            for tool, args in (
                ("waypoint_thread", {"thread_id": waiting["thread_id"]}),
                ("waypoint_answer", {"thread_id": waiting["thread_id"], "answer": APPROVE}),
                ("waypoint_kill", {"thread_id": waiting["thread_id"], "reason": "not mine"}),
            ):
                with pytest.raises(McpError, match="no thread") as caught:
                    await session.call_tool(tool, args)
                assert (caught.value.error.data or {}).get("status") == 404
        async with mcp(server, users.alice) as session:
            read = _structured(
                await session.call_tool("waypoint_thread", {"thread_id": waiting["thread_id"]})
            )
            assert read["status"] == "waiting"  # bob changed nothing

    asyncio.run(flow())


def mcp_no_token_is_401(server: Server) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream"}
    response = httpx.post(f"{server.url}/mcp", json=body, headers=headers, timeout=30)
    assert response.status_code == 401


# --- inbox and metrics -------------------------------------------------------------------------


def inbox_lists_the_callers_questions(server: Server, users: Users) -> None:
    async def flow() -> str:
        async with mcp(server, users.alice) as session:
            waiting = _structured(await session.call_tool("support", _fresh(APPROVAL)))
        return str(waiting["thread_id"])

    thread_id = asyncio.run(flow())
    alice = {"Authorization": f"Bearer {users.alice.token}"}
    bob = {"Authorization": f"Bearer {users.bob.token}"}
    items = httpx.get(f"{server.url}/inbox", headers=alice, timeout=30).json()["items"]
    mine = [item for item in items if item["thread_id"] == thread_id]
    assert len(mine) == 1, items
    assert mine[0]["action"] == "issue_refund"
    assert "approve" in mine[0]["allowed_decisions"]
    assert mine[0]["graph"] == "support"
    theirs = httpx.get(f"{server.url}/inbox", headers=bob, timeout=30).json()["items"]
    assert thread_id not in {item["thread_id"] for item in theirs}
    assert httpx.get(f"{server.url}/inbox", timeout=30).status_code == 401
    bad = httpx.get(f"{server.url}/inbox?older_than=soon", headers=alice, timeout=30)
    assert bad.status_code == 422 and bad.json()["field"] == "older_than", bad.text


REVIEWER = User("carol", "carol-reviewer-token-0123456789")
"""A reviewer of `support` (`WAYPOINT_ROLES=carol=reviewer:support`), for servers that honour it."""


def reviewer_sees_and_answers(server: Server, users: Users) -> None:
    """A reviewer lists another user's question in /inbox, answers it over A2A, cannot kill it."""

    async def flow() -> None:
        async with a2a(server, users.alice, streaming=False) as client:
            task, _ = await _send(client, _request(_fresh(APPROVAL)))
            assert task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
        carol = {"Authorization": f"Bearer {REVIEWER.token}"}
        listed = httpx.get(f"{server.url}/inbox", headers=carol, timeout=30).json()["items"]
        assert task.id in {item["thread_id"] for item in listed}, listed
        async with a2a(server, REVIEWER, streaming=False) as client:
            with pytest.raises(TaskNotFoundError):
                await client.cancel_task(CancelTaskRequest(id=task.id))
            done, _ = await _send(client, _request(APPROVE, task.id))
            assert done.status.state == TaskState.TASK_STATE_COMPLETED, done
        async with a2a(server, users.bob, streaming=False) as client:
            with pytest.raises(TaskNotFoundError):  # bob reviews nothing
                await client.get_task(GetTaskRequest(id=task.id))

    asyncio.run(flow())


def metrics_scraped(server: Server, users: Users, db_url: str) -> None:
    from waypoint.audit import workflow_kpis
    from waypoint.metrics import prometheus_text

    alice = {"Authorization": f"Bearer {users.alice.token}"}
    response = httpx.get(f"{server.url}/metrics", headers=alice, timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert "waypoint_threads{" in response.text
    expected = prometheus_text(asyncio.run(workflow_kpis(db_url=db_url)))

    def figures(text: str) -> dict[str, str]:
        lines = [line for line in text.splitlines() if line and not line.startswith("#")]
        return dict(line.rsplit(" ", 1) for line in lines if "latency" not in line)

    assert figures(response.text) == figures(expected)
    assert httpx.get(f"{server.url}/metrics", timeout=30).status_code == 401
    bad = httpx.get(f"{server.url}/metrics?graph=a b", headers=alice, timeout=30)
    assert bad.status_code == 422 and bad.json()["field"] == "graph", bad.text

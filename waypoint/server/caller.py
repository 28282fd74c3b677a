"""The caller of an interop route, and its threads, through the server's own API.

The A2A agents, the MCP tools and the inbox route (`waypoint.server.app`) do not run graphs
themselves: they call the LangGraph API of the server they are mounted on (`langgraph dev`,
Aegra), over loopback, with the caller's own token. So a run they start is a server run like any
other: the same `auth.py` checks (401, policy, owner stamped on the thread, 404 for another
user's thread), the served graph's guards, ledger and kill switch (`waypoint.served_runs`), and
the server's own thread store (in memory under `langgraph dev`, Postgres under Aegra). A task
(A2A) or a tool call (MCP) is a thread; its id is the thread id.

The loopback address is the socket the request came in on (`scope["server"]`), or
`WAYPOINT_SELF_URL` when the server sits behind something that changes it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import APIStatusError

from waypoint.errors import BadInput, Halted, WaypointError

SELF_URL_ENV = "WAYPOINT_SELF_URL"
"""Environment variable: the URL the interop routes reach the server's own API at."""

GRAPH_KEY = "waypoint_graph"
"""Thread metadata key naming the workflow an interop call started the thread for."""


class NotAuthenticated(WaypointError):
    """No usable credentials: the route answers 401."""


class ThreadNotFound(WaypointError):
    """No such thread for this caller (it does not exist, or it is another user's)."""


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: who, the token it presented, and the server to reach."""

    user: str
    token: str
    base_url: str
    acting_for: str | None = None
    """For the server's own service (`waypoint.server.service`): the thread owner it acts for."""
    acting_user: str | None = None
    """For the service: the user it lets answer (None: the sweeper)."""
    acting_role: str | None = None
    """For the service: the role `acting_user` answers under (`service.ACTING_ROLES`)."""

    def client(self) -> LangGraphClient:
        """A `langgraph_sdk` client acting as this caller on the server's own API."""
        from waypoint.server.service import ACTING_HEADER, ACTING_ROLE_HEADER, ON_BEHALF_HEADER

        headers = {"Authorization": f"Bearer {self.token}"}
        if self.acting_for is not None:
            headers[ON_BEHALF_HEADER] = self.acting_for
        if self.acting_user is not None:
            headers[ACTING_HEADER] = self.acting_user
        if self.acting_role is not None:
            headers[ACTING_ROLE_HEADER] = self.acting_role
        return get_client(url=self.base_url, api_key=None, headers=headers, timeout=120)


async def thread_owner(thread_id: str) -> str | None:
    """Who started a thread, as its ledger says (its first row's actor), if recorded."""
    from waypoint.persistence.stores import database_for_run

    db = await database_for_run()
    first = await db.fetchone(
        "SELECT actor FROM waypoint_ledger WHERE thread_id = :t ORDER BY started_at LIMIT 1",
        {"t": thread_id},
    )
    return str(first["actor"]) if first is not None and first["actor"] else None


def service_caller(
    base_url: str, owner: str, *, acting_user: str | None = None, acting_role: str = "reviewer"
) -> Caller:
    """The server's service credential acting for `owner` (`waypoint.server.service`).

    `acting_user`: a user the caller of this function has checked may answer, under
    `acting_role` (`reviewer` of the workflow, or `escalation`); the run records both.
    None: the sweeper (role `deadline`).
    """
    from waypoint.server.service import service_token

    return Caller(
        user=acting_user or owner,
        token=service_token(),
        base_url=base_url,
        acting_for=owner,
        acting_user=acting_user,
        acting_role=acting_role if acting_user is not None else None,
    )


def self_url(scope: Mapping[str, Any]) -> str:
    """The server's own base URL for a request (`WAYPOINT_SELF_URL`, else the socket's)."""
    if configured := os.environ.get(SELF_URL_ENV, "").strip():
        return configured.rstrip("/")
    host, port = scope.get("server") or ("127.0.0.1", 80)
    if ":" in str(host):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def own_base_url() -> str | None:
    """The server's own base URL outside a request (its background workers), if known.

    `WAYPOINT_SELF_URL`, else the URL `langgraph dev` announces (`LANGGRAPH_API_URL`), else
    `http://HOST:PORT` as `scripts/aegra-serve.sh` starts Aegra (a wildcard host is reached
    on loopback); None when none is set.
    """
    if configured := os.environ.get(SELF_URL_ENV, "").strip():
        return configured.rstrip("/")
    if announced := os.environ.get("LANGGRAPH_API_URL", "").strip():
        return announced.rstrip("/")
    port = os.environ.get("PORT", "").strip()
    if not port.isdigit():
        return None
    host = os.environ.get("HOST", "").strip() or "127.0.0.1"
    if host in ("0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


async def authenticate_scope(scope: Mapping[str, Any]) -> Caller:
    """The caller of an HTTP request, by the same rules as the rest of the API.

    Raises:
        NotAuthenticated: no token, an unknown token, or no keys configured (401).
    """
    from langgraph_sdk import Auth

    from waypoint.server.auth import authenticate, presented_token

    headers = dict(scope.get("headers") or [])
    token = presented_token(headers)
    try:
        user = await authenticate(headers)
    except Auth.exceptions.HTTPException as refused:
        raise NotAuthenticated(str(refused.detail)) from None
    if token is None:  # a Studio request let in without a token cannot call the API back
        raise NotAuthenticated("missing credentials: send Authorization: Bearer <token>")
    return Caller(user=str(user["identity"]), token=token, base_url=self_url(scope))


@dataclass
class ThreadView:
    """What a caller may know of one of its threads: status, output, pending questions."""

    thread_id: str
    graph: str
    status: str
    """`running`, `waiting`, `completed`, `halted`, `failed`, `incomplete`, or `killed`."""
    output: dict[str, Any] | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)
    """Each question waiting: `{"interrupt_id": ..., "request": <HITL request or value>}`."""
    reason: str | None = None
    """Why it halted, failed or was killed."""
    owner: str | None = None
    """Who started it (`metadata.owner`); a reviewer may read it too (`waypoint.roles`)."""

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready record (MCP results, A2A metadata)."""
        return {
            "thread_id": self.thread_id,
            "graph": self.graph,
            "status": self.status,
            "output": self.output,
            "pending": self.pending,
            "reason": self.reason,
        }


def _pending(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    found = list(state.get("interrupts") or [])
    for task in state.get("tasks") or []:
        found.extend(task.get("interrupts") or [])
    for item in found:
        interrupt_id = str(item.get("id") or item.get("interrupt_id") or "")
        if interrupt_id and interrupt_id not in seen:
            seen[interrupt_id] = {"interrupt_id": interrupt_id, "request": item.get("value")}
    return list(seen.values())


def _reason(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return str(value.get("reason") or value.get("message") or value) or None
    return None if value is None else str(value)


async def _kill_of(thread_id: str, graph: str) -> str | None:
    """The reason of the kill that applies to the thread now, if any."""
    from waypoint.kill import pending_kill_query
    from waypoint.persistence.stores import database_for_run

    db = await database_for_run()
    row = await db.fetchone(*pending_kill_query(thread_id, graph))
    return None if row is None else f"killed by {row['requested_by']}: {row['reason']}"


async def thread_graph(caller: Caller, thread_id: str) -> tuple[str, dict[str, Any]]:
    """The workflow a caller's thread runs, and the thread itself.

    Raises:
        ThreadNotFound: the server answered 404 (no such thread, or not the caller's).
    """
    from waypoint.input_checks import check_thread_id

    check_thread_id(thread_id)
    try:
        thread: dict[str, Any] = dict(await caller.client().threads.get(thread_id))
    except APIStatusError as exc:
        if exc.status_code == 404:
            raise ThreadNotFound(f"thread_id: no thread {thread_id} for this caller") from None
        raise
    metadata: Any = thread.get("metadata") or {}
    graph = str(metadata.get(GRAPH_KEY) or metadata.get("graph_id") or "")
    return graph, thread


async def view(caller: Caller, thread_id: str) -> ThreadView:
    """The thread as the caller may see it.

    Raises:
        ThreadNotFound: not the caller's thread, or no such thread.
    """
    from waypoint.contract import status_of

    graph, thread = await thread_graph(caller, thread_id)
    client = caller.client()
    state = dict(await client.threads.get_state(thread_id))
    values = state.get("values") or {}
    values = values if isinstance(values, dict) else {}
    pending = _pending(state)
    started = bool(state.get("checkpoint") or values)
    status: str = status_of(
        values,
        waiting=bool(pending),
        pending=bool(state.get("next")),
        cut_off=False,
        started=started,
    )
    server_status = thread.get("status")
    reason = _reason(values.get("halt")) or _reason(values.get("failure"))
    if server_status == "busy":
        status = "running"
    elif server_status == "error" and status != "halted":
        status, reason = "failed", reason or "the run ended with an error (see the server log)"
    if status in ("waiting", "running", "incomplete", "halted") and (
        killed := await _kill_of(thread_id, graph)
    ):
        status, reason = "killed", killed
    output = values if status == "completed" else None
    metadata: Any = thread.get("metadata") or {}
    owner = metadata.get("owner")
    return ThreadView(thread_id, graph, status, output, pending, reason, owner)


def _refusal(exc: APIStatusError) -> WaypointError:
    try:
        body = exc.response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    text = str(detail or exc.response.text or exc)
    if exc.status_code == 404:
        return ThreadNotFound(text)
    if exc.status_code in (400, 403, 409, 422):
        return BadInput(text)
    return WaypointError(f"server answered {exc.status_code}: {text}")


async def _stream(caller: Caller, thread_id: str, graph: str, **kwargs: Any) -> None:
    """Run the thread through the server and wait for the run to end (streamed: no polling)."""
    client = caller.client()
    try:
        async for part in client.runs.stream(
            thread_id,
            graph,
            stream_mode="updates",
            multitask_strategy="reject",
            **kwargs,
        ):
            if part.event == "error":
                break  # the thread's state says what happened
    except APIStatusError as exc:
        raise _refusal(exc) from None


async def create(caller: Caller, graph: str, data: Any, *, what: str) -> str:
    """A new thread of the caller's for workflow `graph`, once `data` fits its input schema.

    Raises:
        BadInput: the input does not fit the workflow's input schema (nothing is written).
        Halted: the workflow (or everything) is killed: no new run starts.
    """
    from waypoint.kill import refuse_if_killed
    from waypoint.persistence.stores import database_for_run
    from waypoint.runner import validate
    from waypoint.workflows import load_workflow

    workflow = load_workflow(graph)
    validate(workflow.input_schema, data, what=what)
    await refuse_if_killed(await database_for_run(), graph)
    try:
        thread = await caller.client().threads.create(
            thread_id=str(uuid.uuid4()), metadata={GRAPH_KEY: graph}
        )
    except APIStatusError as exc:
        raise _refusal(exc) from None
    return str(thread["thread_id"])


async def run_input(caller: Caller, thread_id: str, graph: str, data: Any) -> ThreadView:
    """Run a thread made by `create` on its input; its view when the run stops.

    Raises:
        BadInput: the server refused the run (its policy checks name the field).
    """
    await _stream(caller, thread_id, graph, input=dict(data))
    return await view(caller, thread_id)


async def start(caller: Caller, graph: str, data: Any, *, what: str) -> ThreadView:
    """Start workflow `graph` on `data` in a new thread of the caller's; its view at the end.

    Raises:
        BadInput: the input does not fit the workflow's input schema (nothing is written), or
            the server refused the run (its policy checks).
        Halted: the workflow (or everything) is killed: no new run starts.
    """
    thread_id = await create(caller, graph, data, what=what)
    return await run_input(caller, thread_id, graph, data)


async def check_answer(
    caller: Caller, thread_id: str, reply: Any, *, interrupt_id: str | None, what: str
) -> tuple[ThreadView, Any]:
    """The thread an answer is for, and the `resume` value to send; nothing is written.

    Raises:
        ThreadNotFound: not the caller's thread.
        BadInput: the thread waits for nothing, names another question, or no answer is given.
    """
    current = await view(caller, thread_id)
    if current.status != "waiting":
        raise BadInput(
            f"thread_id: thread {thread_id} is {current.status}, not waiting for an answer",
            field="thread_id",
        )
    ids = [item["interrupt_id"] for item in current.pending]
    if interrupt_id is not None and interrupt_id not in ids:
        raise BadInput(
            f"interrupt_id: {interrupt_id!r} is not pending (pending: {', '.join(ids)})",
            field="interrupt_id",
        )
    if reply is None:
        raise BadInput(f"{what}: expected an answer to the pending question", field=what)
    if interrupt_id is None and len(ids) > 1:
        raise BadInput(
            f"interrupt_id: {len(ids)} questions are pending; name one ({', '.join(ids)})",
            field="interrupt_id",
        )
    return current, reply if interrupt_id is None else {interrupt_id: reply}


async def run_answer(caller: Caller, current: ThreadView, resume: Any) -> ThreadView:
    """Resume a thread `check_answer` accepted; its view when the run stops.

    Raises:
        BadInput: the server refused the answer (its policy checks name the field).
    """
    await _stream(caller, current.thread_id, current.graph, command={"resume": resume})
    return await view(caller, current.thread_id)


async def answer(
    caller: Caller, thread_id: str, reply: Any, *, interrupt_id: str | None, what: str
) -> ThreadView:
    """Answer the question a caller's thread waits on; its view when the run stops.

    Raises:
        ThreadNotFound: not the caller's thread.
        BadInput: the thread waits for nothing, names another question, or the answer is
            malformed (the server's policy checks name the field).
    """
    current, resume = await check_answer(
        caller, thread_id, reply, interrupt_id=interrupt_id, what=what
    )
    return await run_answer(caller, current, resume)


async def kill(caller: Caller, thread_id: str, reason: str) -> ThreadView:
    """Kill a caller's thread (`waypoint kill THREAD`): it halts before its next node.

    A thread waiting for a human stays halted: an answer sent later runs none of its effects.
    Only its owner may: a reviewer who may read and answer the thread may not kill it.

    Raises:
        ThreadNotFound: not the caller's thread.
    """
    from waypoint.kill import request_kill
    from waypoint.persistence.stores import database_for_run

    current = await view(caller, thread_id)
    if current.owner != caller.user:
        raise ThreadNotFound(f"thread_id: no thread {thread_id} for this caller to kill")
    if current.status in ("completed", "failed", "halted", "killed"):
        return current
    await request_kill(await database_for_run(), thread_id, reason, caller.user)
    return await view(caller, thread_id)


__all__ = [
    "Caller",
    "Halted",
    "NotAuthenticated",
    "ThreadNotFound",
    "ThreadView",
    "answer",
    "authenticate_scope",
    "check_answer",
    "create",
    "kill",
    "own_base_url",
    "run_answer",
    "run_input",
    "service_caller",
    "start",
    "thread_owner",
    "view",
]

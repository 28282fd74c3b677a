"""The served app's own routes (`http.app` in langgraph.json): interop, inbox, metrics.

Both servers mount this FastAPI app beside the LangGraph API (`langgraph dev` merges its routes
ahead of its own; Aegra builds its API on top of it):

| route | what |
|---|---|
| `POST /a2a/{graph}` | the workflow as an A2A agent (JSON-RPC; `waypoint.server.a2a_agents`) |
| `GET /a2a/{graph}/.well-known/agent-card.json` | its agent card |
| `/mcp` | every workflow as an MCP tool (streamable HTTP; `waypoint.server.mcp_tools`) |
| `GET /inbox` | the questions waiting for the caller (`waypoint inbox`, as JSON) |
| `POST /inbox/answer` | answer one of them (its owner, or a reviewer of its workflow) |
| `GET /metrics` | the KPIs in the Prometheus text format (`waypoint kpis --format prometheus`) |

Every route takes the same tokens as the rest of the API (`waypoint.server.auth`): no token or
a wrong one is 401. A2A tasks and MCP threads are the caller's own threads; another user's is
"not found". `/metrics` is aggregate (every graph, every user): any valid token reads it.

Its lifespan also runs the outbox relay and webhook delivery (`waypoint.server.workers`).

`langgraph dev` serves its own `/metrics` on a route a custom app cannot shadow; Waypoint's is
answered by a middleware of this app instead, on both servers, so one scrape config fits both.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from a2a.server.context import ServerCallContext
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes.common import DefaultServerCallContextBuilder
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from fastapi import FastAPI
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from waypoint.errors import BadInput
from waypoint.handoffs import escalated_choice, escalated_questions
from waypoint.server.a2a_agents import CALLER_STATE, WorkflowAgent, agent_card
from waypoint.server.caller import Caller, NotAuthenticated, authenticate_scope, self_url
from waypoint.server.mcp_tools import mcp_server
from waypoint.server.workers import background_workers
from waypoint.workflows import workflow_names

logger = logging.getLogger("waypoint.server.app")

METRICS_PATH = "/metrics"
"""Where the Prometheus text is served."""

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text exposition format's content type."""


def _unauthorized(detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=401, headers={"WWW-Authenticate": "Bearer"})


def _bad(field: str, detail: str, status: int = 422) -> JSONResponse:
    return JSONResponse({"detail": detail, "field": field}, status_code=status)


async def _caller(scope: Scope) -> Caller | JSONResponse:
    try:
        return await authenticate_scope(scope)
    except NotAuthenticated as refused:
        return _unauthorized(str(refused))


class _CallerContext(DefaultServerCallContextBuilder):
    """The SDK's call context (headers: the protocol version), with the authenticated caller."""

    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        context.state[CALLER_STATE] = request.scope.get(CALLER_STATE)
        return context


_dispatchers: dict[str, JsonRpcDispatcher] = {}


def _dispatcher(graph: str) -> JsonRpcDispatcher:
    if graph not in _dispatchers:
        _dispatchers[graph] = JsonRpcDispatcher(
            WorkflowAgent(graph), context_builder=_CallerContext(), enable_v0_3_compat=True
        )
    return _dispatchers[graph]


def _no_graph(graph: str) -> str:
    return f"graph: no workflow {graph[:80]!r} (served: {', '.join(workflow_names())})"


def _unknown_graph(graph: str) -> JSONResponse | None:
    if graph in workflow_names():
        return None
    return JSONResponse({"detail": _no_graph(graph), "field": "graph"}, 404)


async def a2a_card(request: Request) -> Response:
    """`GET /a2a/{graph}/.well-known/agent-card.json`: the workflow's agent card."""
    caller = await _caller(request.scope)
    if isinstance(caller, JSONResponse):
        return caller
    graph = request.path_params["graph"]
    if (missing := _unknown_graph(graph)) is not None:
        return missing
    return JSONResponse(agent_card_to_dict(agent_card(graph, self_url(request.scope))))


async def a2a_rpc(request: Request) -> Response:
    """`POST /a2a/{graph}`: A2A JSON-RPC for the workflow."""
    caller = await _caller(request.scope)
    if isinstance(caller, JSONResponse):
        return caller
    graph = request.path_params["graph"]
    if (missing := _unknown_graph(graph)) is not None:
        return missing
    request.scope[CALLER_STATE] = caller
    return await _dispatcher(graph).handle_requests(request)


def _reviews(user: str, graph: str) -> bool:
    """Whether `user` reviews `graph` (`waypoint.roles`; unreadable roles: no, logged)."""
    from waypoint.roles import RoleConfigError, may_review

    try:
        return may_review(user, graph)
    except RoleConfigError as exc:
        logger.error("waypoint roles: %s", exc)
        return False


def _acting(caller: Caller, owner: str | None, graph: str, escalated_to: str | None) -> Caller:
    """How the caller reaches a thread: itself, or, answering another user's, through the service.

    A reviewer of the thread's workflow, or the user its question was escalated to at its
    deadline (`waypoint.sweeper`), reaches another user's thread through the server's service
    credential acting for the owner (`waypoint.server.service`): Aegra scopes its thread
    queries to their creator below the auth handlers, so this is the way that works on both
    servers; the run records who answered, as `reviewer` or `escalation`.
    """
    from waypoint.server.caller import service_caller

    if owner is None or owner == caller.user:
        return caller
    if _reviews(caller.user, graph):
        return service_caller(caller.base_url, owner, acting_user=caller.user)
    if escalated_to == caller.user:
        return service_caller(
            caller.base_url, owner, acting_user=caller.user, acting_role="escalation"
        )
    return caller


async def inbox(request: Request) -> Response:
    """`GET /inbox[?graph=G][&older_than=1h]`: the questions waiting for the caller.

    Oldest first, each with its HITL request (action, args, description, allowed decisions),
    age and node, as `waypoint inbox --json` prints them: on the caller's threads (the same
    ownership rule as the rest of the API), on the threads of the workflows the caller
    reviews (`waypoint.roles`), and those escalated to the caller, on either server.
    """
    from waypoint.inbox import escalated_to, inbox_item, waiting_handoffs
    from waypoint.persistence.stores import database_for_run
    from waypoint.retention import parse_duration
    from waypoint.server.caller import ThreadNotFound, view

    caller = await _caller(request.scope)
    if isinstance(caller, JSONResponse):
        return caller
    unknown = sorted(set(request.query_params) - {"graph", "older_than"})
    if unknown:
        return _bad(unknown[0], f"{unknown[0]}: unknown parameter (expected graph, older_than)")
    graph = request.query_params.get("graph")
    older = request.query_params.get("older_than")
    if graph is not None and graph not in workflow_names():
        return _bad("graph", _no_graph(graph))
    try:
        window = parse_duration(older, field="older_than") if older else None
        rows = await waiting_handoffs(await database_for_run(), graph=graph, older_than=window)
    except BadInput as bad:
        return _bad(bad.field or "query", str(bad))
    now = datetime.now(UTC)
    items: list[dict[str, Any]] = []
    questions: dict[tuple[str, str | None], dict[str, Any] | None] = {}
    for row in rows:
        thread_id = str(row["thread_id"])
        owner = str(row["started_by"]) if row.get("started_by") else None
        # per question: an escalated user may see the question handed to them, no other
        acting = _acting(caller, owner, str(row["graph"]), escalated_to(row))
        seen_as = (thread_id, acting.acting_role)
        if seen_as not in questions:
            try:
                seen = await view(acting, thread_id)
            except ThreadNotFound:
                questions[seen_as] = None
            else:
                waiting = seen.status == "waiting"
                questions[seen_as] = {p["interrupt_id"]: p["request"] for p in seen.pending}
                if not waiting:
                    questions[seen_as] = {}
        asked = questions[seen_as]
        if asked is None or str(row["handoff_id"]) not in asked:
            continue  # another user's question, or answered since
        item = inbox_item(row, asked[str(row["handoff_id"])], row["node"], now)
        items.append(item.as_json())
    return JSONResponse({"items": items})


async def answer_question(request: Request) -> Response:
    """`POST /inbox/answer`: answer a question listed in the inbox (owner, reviewer, escalation).

    Body: `{"thread_id": ..., "interrupt_id": ... (optional), "answer": {"decisions": [...]}}`.
    The run goes through the server's own API like any answer (policy checks, guards, ledger);
    a reviewer of the thread's workflow answers another user's thread (on Aegra too), and so
    does the user a question was escalated to, that question only; the ledger records them as
    `reviewer` or `escalation`. Anyone else: 404. Answers with the thread's view when the run
    stops.
    """
    from waypoint.persistence.stores import database_for_run
    from waypoint.server.caller import ThreadNotFound, answer, thread_owner

    caller = await _caller(request.scope)
    if isinstance(caller, JSONResponse):
        return caller
    try:
        body: Any = await request.json()
    except ValueError:
        return _bad("body", "body: expected a JSON object", 400)
    if not isinstance(body, dict):
        return _bad("body", "body: expected a JSON object", 400)
    unknown = sorted(set(body) - {"thread_id", "interrupt_id", "answer"})
    if unknown:
        return _bad(unknown[0], f"{unknown[0]}: unknown field (expected thread_id, "
                    "interrupt_id, answer)")  # fmt: skip
    thread_id, interrupt_id = body.get("thread_id"), body.get("interrupt_id")
    if not isinstance(thread_id, str) or not thread_id:
        return _bad("thread_id", "thread_id: expected the thread's id")
    if interrupt_id is not None and not isinstance(interrupt_id, str):
        return _bad("interrupt_id", "interrupt_id: expected a pending interrupt's id")
    try:
        db = await database_for_run()
        row = await db.fetchone(
            "SELECT graph FROM waypoint_threads WHERE thread_id = :t", {"t": thread_id}
        )
        graph = str(row["graph"]) if row is not None else ""
        handed = await escalated_questions(db, thread_id, caller.user)
        acting = _acting(
            caller, await thread_owner(thread_id), graph, caller.user if handed else None
        )
        if acting.acting_role == "escalation":  # the question handed to the caller, no other
            interrupt_id = escalated_choice(handed, interrupt_id)
            if interrupt_id is None:
                raise ThreadNotFound(thread_id)
        done = await answer(
            acting, thread_id, body.get("answer"), interrupt_id=interrupt_id, what="answer"
        )
    except ThreadNotFound:
        return JSONResponse({"detail": f"thread_id: no thread {thread_id} for this caller",
                             "field": "thread_id"}, 404)  # fmt: skip
    except BadInput as bad:
        return _bad(bad.field or "answer", str(bad))
    return JSONResponse(done.as_json())


async def metrics_text(graph: str | None) -> str:
    """The KPIs as `waypoint kpis --format prometheus` prints them.

    Computed on a thread of its own, as the command line computes them: opening the database
    checks files, which an event loop of a server must not wait for.
    """
    from waypoint.audit import workflow_kpis
    from waypoint.metrics import prometheus_text

    kpis = await asyncio.to_thread(asyncio.run, workflow_kpis(graph=graph))
    return prometheus_text(kpis)


class MetricsMiddleware:
    """Answers `GET /metrics` with Waypoint's KPIs, ahead of any route of the server's own."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap the rest of the app."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve `/metrics`; pass everything else on."""
        if scope["type"] != "http" or scope["path"] != METRICS_PATH:
            await self.app(scope, receive, send)
            return
        response = await self._metrics(scope)
        await response(scope, receive, send)

    async def _metrics(self, scope: Scope) -> Response:
        if scope.get("method") != "GET":
            return JSONResponse({"detail": "method not allowed: GET /metrics"}, 405)
        caller = await _caller(scope)
        if isinstance(caller, JSONResponse):
            return caller
        query = Request(scope).query_params
        unknown = sorted(set(query) - {"graph"})
        if unknown:
            return _bad(unknown[0], f"{unknown[0]}: unknown parameter (expected graph)")
        graph = query.get("graph")
        if graph is not None and graph not in workflow_names():
            return _bad("graph", _no_graph(graph))
        try:
            text = await metrics_text(graph)
        except BadInput as bad:
            return _bad(bad.field or "graph", str(bad))
        return PlainTextResponse(text, media_type=PROMETHEUS_TYPE)


class _McpEndpoint:
    """The MCP transport behind the same tokens: 401 before MCP sees the request."""

    def __init__(self, manager: StreamableHTTPSessionManager) -> None:
        self.manager = manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        caller = await _caller(scope)
        if isinstance(caller, JSONResponse):
            await caller(scope, receive, send)
            return
        await self.manager.handle_request(scope, receive, send)


def create_app() -> FastAPI:
    """The app both servers mount (`http.app` in langgraph.json)."""
    manager = StreamableHTTPSessionManager(app=mcp_server(), json_response=True, stateless=True)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with manager.run(), background_workers():
            yield

    app = FastAPI(title="Waypoint", lifespan=lifespan)
    app.router.routes.extend(
        [
            Route("/a2a/{graph}/.well-known/agent-card.json", a2a_card, methods=["GET"]),
            Route("/a2a/{graph}", a2a_rpc, methods=["POST"]),
            Route("/mcp", _McpEndpoint(manager), methods=["GET", "POST", "DELETE"]),
            Route("/inbox", inbox, methods=["GET"]),
            Route("/inbox/answer", answer_question, methods=["POST"]),
        ]
    )
    app.add_middleware(MetricsMiddleware)
    return app


app = create_app()
"""The app `langgraph.json` names (`"http": {"app": "waypoint.server.app:app"}`)."""

"""Every workflow in `langgraph.json` as an MCP tool (official `mcp` SDK, streamable HTTP).

Served at `/mcp` (stateless, JSON responses: any instance answers any call). Tools:

- one per workflow, named after it: its input schema, annotations derived from its declared
  side effects (`waypoint.server.describe`), and a result that carries the thread id, the
  status, the output when it completed, and the pending request when it waits for a human;
- `waypoint_answer` (`thread_id`, `answer`, optional `interrupt_id`): answer that request;
- `waypoint_thread` (`thread_id`): a thread's status, pending request and output;
- `waypoint_kill` (`thread_id`, `reason`): Waypoint's kill of the thread.

Every call runs through the server's own API as the caller (`waypoint.server.caller`): the same
tokens, policy checks, owner, guards, ledger and kill switch as any server run. Bad arguments and
another user's thread are JSON-RPC errors (invalid params, naming the field), and nothing is
written.
"""

from __future__ import annotations

import json
from typing import Any

from mcp import types
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import McpError
from mcp.types import INVALID_PARAMS

from waypoint.errors import BadInput, Halted
from waypoint.server import caller as calls
from waypoint.server.caller import ThreadNotFound, ThreadView

ANSWER_TOOL = "waypoint_answer"
"""The tool that answers a thread's pending question."""

THREAD_TOOL = "waypoint_thread"
"""The tool that reads a thread's status."""

KILL_TOOL = "waypoint_kill"
"""The tool that kills a thread."""

_THREAD_ID = {"type": "string", "description": "the thread id a workflow tool returned"}

RESULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "thread_id": {"type": "string"},
        "graph": {"type": "string"},
        "status": {
            "type": "string",
            "enum": ["running", "waiting", "completed", "halted", "failed", "incomplete", "killed"],
        },
        "output": {"type": ["object", "null"]},
        "pending": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"interrupt_id": {"type": "string"}, "request": {}},
            },
        },
        "reason": {"type": ["string", "null"]},
    },
    "required": ["thread_id", "graph", "status", "pending"],
}
"""What every tool returns (`structuredContent`)."""


def _companions() -> list[types.Tool]:
    answer_schema = {
        "type": "object",
        "properties": {
            "thread_id": _THREAD_ID,
            "answer": {
                "description": 'the reply, e.g. {"decisions": [{"type": "approve"}]} for an '
                "approval (LangChain's HITLResponse)",
            },
            "interrupt_id": {
                "type": "string",
                "description": "which pending question (needed only when several wait)",
            },
        },
        "required": ["thread_id", "answer"],
        "additionalProperties": False,
    }
    thread_schema = {
        "type": "object",
        "properties": {"thread_id": _THREAD_ID},
        "required": ["thread_id"],
        "additionalProperties": False,
    }
    kill_schema = {
        "type": "object",
        "properties": {
            "thread_id": _THREAD_ID,
            "reason": {"type": "string", "description": "why (recorded in the audit trail)"},
        },
        "required": ["thread_id", "reason"],
        "additionalProperties": False,
    }
    return [
        types.Tool(
            name=ANSWER_TOOL,
            description="Answer the question a Waypoint thread waits on (an approval, say), "
            "then run it on until it stops again. Returns the thread's new status.",
            inputSchema=answer_schema,
            outputSchema=RESULT_SCHEMA,
            annotations=types.ToolAnnotations(
                destructiveHint=True, idempotentHint=False, readOnlyHint=False
            ),
        ),
        types.Tool(
            name=THREAD_TOOL,
            description="Read a Waypoint thread: its status, output, and the request it waits on.",
            inputSchema=thread_schema,
            outputSchema=RESULT_SCHEMA,
            annotations=types.ToolAnnotations(readOnlyHint=True, idempotentHint=True),
        ),
        types.Tool(
            name=KILL_TOOL,
            description="Kill a Waypoint thread: it halts before its next node; a question it "
            "waits on can no longer be answered.",
            inputSchema=kill_schema,
            outputSchema=RESULT_SCHEMA,
            annotations=types.ToolAnnotations(
                destructiveHint=True, idempotentHint=True, readOnlyHint=False
            ),
        ),
    ]


def workflow_tools() -> list[types.Tool]:
    """A tool per workflow in `langgraph.json`, then the companion tools."""
    from waypoint.server.describe import describe
    from waypoint.workflows import workflow_names

    tools = []
    for name in workflow_names():
        about = describe(name)
        hints = about.annotations
        effects = ", ".join(about.effects) or "none declared"
        tools.append(
            types.Tool(
                name=name,
                description=(
                    f"{about.description} Starts a new thread and runs it until it completes, "
                    f"stops, or waits for a human (then answer with {ANSWER_TOOL}). "
                    f"Side effects: {effects}."
                ),
                inputSchema=about.input_schema,
                outputSchema=RESULT_SCHEMA,
                annotations=types.ToolAnnotations(
                    title=name,
                    readOnlyHint=hints["readOnlyHint"],
                    destructiveHint=hints["destructiveHint"],
                    idempotentHint=hints["idempotentHint"],
                    openWorldHint=hints["openWorldHint"],
                ),
            )
        )
    return [*tools, *_companions()]


def _result(view: ThreadView) -> types.CallToolResult:
    data = view.as_json()
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(data, default=str))],
        structuredContent=data,
        isError=view.status in ("failed", "halted", "killed") and view.output is None,
    )


def _text(arguments: dict[str, Any], name: str) -> str:
    value = arguments.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BadInput(f"{name}: expected a non-empty string", field=name)
    return value


def _error(message: str, data: dict[str, Any]) -> McpError:
    """A JSON-RPC invalid-params error (the SDK's tool decorator would make it a tool result)."""
    return McpError(types.ErrorData(code=INVALID_PARAMS, message=message, data=data))


async def _call(server: Server[Any, Any], params: types.CallToolRequestParams) -> ThreadView:
    from waypoint.workflows import workflow_names

    scope = getattr(server.request_context.request, "scope", None)
    if scope is None:
        raise _error("unauthenticated: no HTTP request", {"status": 401})
    try:
        caller = await calls.authenticate_scope(scope)
    except calls.NotAuthenticated as refused:
        raise _error(f"unauthenticated: {refused}", {"status": 401}) from None
    arguments = dict(params.arguments or {})
    try:
        if params.name == ANSWER_TOOL:
            interrupt_id = arguments.get("interrupt_id")
            if interrupt_id is not None and not isinstance(interrupt_id, str):
                raise BadInput("interrupt_id: expected a string", field="interrupt_id")
            if "answer" not in arguments:
                raise BadInput("answer: required", field="answer")
            return await calls.answer(
                caller,
                _text(arguments, "thread_id"),
                arguments["answer"],
                interrupt_id=interrupt_id,
                what="answer",
            )
        if params.name == THREAD_TOOL:
            return await calls.view(caller, _text(arguments, "thread_id"))
        if params.name == KILL_TOOL:
            thread_id = _text(arguments, "thread_id")
            return await calls.kill(caller, thread_id, _text(arguments, "reason"))
        if params.name in workflow_names():
            return await calls.start(caller, params.name, arguments, what="arguments")
        raise BadInput(f"name: no tool {params.name!r}", field="name")
    except ThreadNotFound as missing:
        raise _error(str(missing), {"field": "thread_id", "status": 404}) from None
    except BadInput as bad:
        raise _error(str(bad), {"field": bad.field}) from None
    except Halted as halted:
        raise _error(str(halted), {"field": "name"}) from None


def mcp_server() -> Server[Any, Any]:
    """The MCP server of the workflows (the app mounts its streamable HTTP transport)."""
    server: Server[Any, Any] = Server(
        "waypoint",
        version="1",
        instructions="Each workflow tool starts a thread; answer its questions with "
        f"{ANSWER_TOOL}, read it with {THREAD_TOOL}, stop it with {KILL_TOOL}.",
    )

    @server.list_tools()  # type: ignore[no-untyped-call,untyped-decorator]
    async def list_tools() -> list[types.Tool]:
        return workflow_tools()

    async def call_tool(request: types.CallToolRequest) -> types.ServerResult:
        return types.ServerResult(_result(await _call(server, request.params)))

    server.request_handlers[types.CallToolRequest] = call_tool
    return server

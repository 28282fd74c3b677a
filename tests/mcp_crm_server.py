"""A FAKE CRM as an MCP server (streamable HTTP), for the MCP-provider tests. Not a CRM.

`python -m tests.mcp_crm_server --port N [--token T]` serves, at `/mcp`:

- `crm_lookup` (`customer_id`, `order_id`, `category`): the `crm_lookup` contract's answer from
  `nodes/support/crm_data.json` (read once; it does not follow the demo database), with each
  customer's name suffixed " (via MCP)" so a test can tell whose answer it got;
- `crm_lookup_broken`: an answer that breaks the contract (`customer` is a string);
- `crm_lookup_failing`: a tool error.

`GET /_calls` counts the tool calls served. With `--token`, `/mcp` wants `Authorization: Bearer
T` (401 otherwise).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

import uvicorn
from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

DATA = Path(__file__).resolve().parent.parent / "nodes" / "support" / "crm_data.json"
ARGS = {
    "type": "object",
    "properties": {
        "customer_id": {"type": "string"},
        "order_id": {"type": ["string", "null"]},
        "category": {"type": "string"},
    },
    "required": ["customer_id", "category"],
}
calls: Counter[str] = Counter()


def lookup(arguments: dict[str, Any]) -> dict[str, Any]:
    data = json.loads(DATA.read_text())
    customers = {c["customer_id"]: c for c in data["customers"]}
    orders = {o["order_id"]: o for o in data["orders"]}
    customer = customers.get(arguments["customer_id"])
    order_id = arguments.get("order_id")
    order = orders.get(order_id) if order_id else None
    problems = []
    if customer is None:
        problems.append(f"unknown customer {arguments['customer_id']}")
    else:
        customer = {**customer, "name": f"{customer['name']} (via MCP)"}
    if order_id and order is None:
        problems.append(f"unknown order {order_id}")
    if order is not None and order["customer_id"] != arguments["customer_id"]:
        problems.append(f"order {order_id} belongs to another customer")
        order = None
    return {"customer": customer, "order": order, "problems": problems}


def tools() -> list[types.Tool]:
    names = ("crm_lookup", "crm_lookup_broken", "crm_lookup_failing")
    return [types.Tool(name=n, description="FAKE CRM lookup", inputSchema=ARGS) for n in names]


def call_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
    calls[name] += 1
    if name == "crm_lookup_failing":
        text = types.TextContent(type="text", text="the CRM is down")
        return types.CallToolResult(content=[text], isError=True)
    answer = lookup(arguments)
    if name == "crm_lookup_broken":
        answer = {**answer, "customer": "nobody"}
    text = types.TextContent(type="text", text=json.dumps(answer))
    return types.CallToolResult(content=[text], structuredContent=answer)


def app(token: str | None) -> Starlette:
    server: Server[Any, Any] = Server("fake-crm")

    @server.list_tools()  # type: ignore[no-untyped-call,untyped-decorator]
    async def listed() -> list[types.Tool]:
        return tools()

    @server.call_tool()  # type: ignore[untyped-decorator]
    async def called(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        return call_tool(name, arguments)

    manager = StreamableHTTPSessionManager(app=server, json_response=True, stateless=True)

    async def mcp_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        if token and headers.get(b"authorization", b"").decode() != f"Bearer {token}":
            await JSONResponse({"detail": "bad token"}, 401)(scope, receive, send)
            return
        await manager.handle_request(scope, receive, send)

    async def counted(request: Request) -> JSONResponse:
        return JSONResponse(dict(calls))

    class Endpoint:
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await mcp_endpoint(scope, receive, send)

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_: Starlette) -> Any:
        async with manager.run():
            yield

    return Starlette(
        routes=[
            Route("/mcp", Endpoint(), methods=["GET", "POST", "DELETE"]),
            Route("/_calls", counted, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", default=None)
    args = parser.parse_args()
    uvicorn.run(app(args.token), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()

"""Capability providers that are tools on MCP servers (`langchain-mcp-adapters`).

Declared in `waypoint.toml`, then routed like any provider:

```toml
[mcp_providers.crm-over-mcp]
capability = "crm_lookup"            # the contract it must meet
url = "http://127.0.0.1:8799/mcp"    # streamable HTTP
tool = "crm_lookup"
token_env = "CRM_MCP_TOKEN"          # optional bearer token, read from the environment
timeout = 10.0

[capabilities.crm_lookup]
providers = ["crm-over-mcp", "demo-crm"]
```

The registry adds each one to its capability (`CapabilityRegistry.route`), so a call through it
gets everything a call through any provider gets: the request is the capability's input model
(dumped to JSON as the tool's arguments), the answer is checked against the output contract
(the tool's structured content, else its text read as JSON), and a failure, a timeout or a
broken contract counts against the provider's shared breaker and hands the call to the next
provider in the route; the node's failure ladder sees only what the last provider raised.
One MCP session per call: no connection is held between calls.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from pydantic import BaseModel

from waypoint.capabilities import OfflineProvider
from waypoint.config import McpProviderConfig
from waypoint.provider_errors import ProviderUnavailable


class McpToolError(RuntimeError):
    """The MCP tool answered with an error, or an answer the contract check cannot read."""


def _headers(name: str, spec: McpProviderConfig) -> dict[str, str]:
    if spec.token_env is None:
        return {}
    token = os.environ.get(spec.token_env, "").strip()
    if not token:
        raise ProviderUnavailable(name, f"{spec.token_env} is not set (the server's token)")
    return {"Authorization": f"Bearer {token}"}


def _answer(name: str, message: Any) -> Any:
    """The structured content of a tool's answer, else its text read as JSON."""
    if getattr(message, "status", None) == "error":
        raise McpToolError(f"{name}: the tool failed: {str(message.content)[:300]}")
    artifact = getattr(message, "artifact", None)
    if isinstance(artifact, dict) and artifact.get("structured_content") is not None:
        return artifact["structured_content"]
    content = message.content
    text = content if isinstance(content, str) else None
    if isinstance(content, list):
        text = "".join(str(block.get("text", "")) for block in content if isinstance(block, dict))
    try:
        return json.loads(text or "")
    except ValueError:
        raise McpToolError(f"{name}: the tool's answer is not JSON: {str(text)[:200]!r}") from None


async def call_mcp_tool(name: str, spec: McpProviderConfig, request: BaseModel) -> Any:
    """Call the tool once with `request` as its arguments; its raw answer.

    Raises:
        ProviderUnavailable: the server cannot be reached, or the tool is not there.
        McpToolError: the tool answered with an error, or with text that is not JSON.
    """
    from langchain_mcp_adapters.client import MultiServerMCPClient
    from langchain_mcp_adapters.tools import load_mcp_tools

    client = MultiServerMCPClient(
        {
            name: {
                "transport": "streamable_http",
                "url": spec.url,
                "headers": _headers(name, spec),
                "timeout": spec.timeout,
            }
        }
    )
    try:
        async with client.session(name) as session:
            tools = {tool.name: tool for tool in await load_mcp_tools(session)}
            tool = tools.get(spec.tool)
            if tool is None:
                raise ProviderUnavailable(
                    name, f"no tool {spec.tool!r} at {spec.url} (offered: {', '.join(tools)})"
                )
            message = await tool.ainvoke(
                {
                    "type": "tool_call",
                    "id": uuid.uuid4().hex,
                    "name": spec.tool,
                    "args": request.model_dump(mode="json"),
                }
            )
    except (ProviderUnavailable, McpToolError):
        raise
    except Exception as exc:  # connection refused, HTTP errors, a tool error raised
        raise ProviderUnavailable(name, f"{spec.url}: {type(exc).__name__}: {exc}"[:400]) from exc
    return _answer(name, message)


def mcp_provider(name: str, spec: McpProviderConfig) -> OfflineProvider[Any, Any]:
    """The registry's provider for an MCP tool (an async function: its timeout applies)."""

    async def call(request: BaseModel) -> Any:
        return await call_mcp_tool(name, spec, request)

    return OfflineProvider(
        name=name,
        version=spec.version,
        description=f"MCP tool {spec.tool!r} at {spec.url}",
        fn=call,
        owner=spec.url,
        usd_per_call=spec.usd_per_call,
        slo_latency_ms=spec.slo_latency_ms,
        slo_error_rate=spec.slo_error_rate,
        timeout_seconds=spec.timeout,
    )

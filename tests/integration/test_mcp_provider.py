"""A capability provider that is a tool on an MCP server (`[mcp_providers.NAME]` in waypoint.toml).

Against a real MCP server in another process (`tests/mcp_crm_server.py`, a FAKE CRM over
streamable HTTP with a bearer token): `support` looks its customer up through the tool on both
backends, recorded in the ledger under the MCP provider's name; an answer that breaks the
`crm_lookup` contract, a tool error, a wrong token and a server that is down each hand the call to
the next provider in the route, or fail the call when none is left; a provider naming an unknown
capability is a configuration error that names the field.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.servers import free_port
from tests.helpers import demo_input, query, run
from waypoint.capabilities import CapabilityContractError
from waypoint.errors import BadInput
from waypoint.mcp_providers import McpToolError
from waypoint.provider_errors import ProviderUnavailable
from waypoint.runner import start_run

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "mcp-test-token-0123456789"


@pytest.fixture(scope="module")
def mcp_crm() -> Iterator[str]:
    """The FAKE CRM's MCP server, in its own process, on a free port."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.mcp_crm_server", "--port", str(port), "--token", TOKEN],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/_calls", timeout=2)
            break
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"MCP server did not start: {proc.stderr!r}") from None
            time.sleep(0.1)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def calls(base: str) -> dict[str, int]:
    counted: dict[str, int] = httpx.get(f"{base}/_calls", timeout=5).json()
    return counted


@pytest.fixture
def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mcp_crm: str) -> Any:
    """Write a waypoint.toml routing `crm_lookup` through `route`, with the MCP providers."""
    monkeypatch.setenv("CRM_MCP_TOKEN", TOKEN)
    monkeypatch.delenv("WAYPOINT_ROUTE_CRM_LOOKUP", raising=False)
    base = (ROOT / "waypoint.toml").read_text()

    def install(
        route: list[str], *, url: str | None = None, capability: str = "crm_lookup"
    ) -> None:
        tools = {
            "crm-over-mcp": "crm_lookup",
            "crm-broken": "crm_lookup_broken",
            "crm-failing": "crm_lookup_failing",
        }
        providers = "".join(
            f'\n[mcp_providers.{name}]\ncapability = "{capability}"\n'
            f'url = "{url or mcp_crm + "/mcp"}"\ntool = "{tool}"\n'
            'token_env = "CRM_MCP_TOKEN"\ntimeout = 10.0\n'
            for name, tool in tools.items()
        )
        text = base.replace(
            'providers = ["demo-crm"]', f"providers = [{', '.join(map(repr, route))}]"
        ).replace("'", '"')
        path = tmp_path / f"waypoint-{uuid.uuid4().hex[:6]}.toml"
        path.write_text(text + providers)
        monkeypatch.setenv("WAYPOINT_CONFIG", str(path))

    return install


def _lookup(customer: str = "C-200", order: str = "O-2") -> Any:
    from nodes.support.capabilities import LookupRequest
    from waypoint.capabilities import registry

    request = LookupRequest(customer_id=customer, order_id=order, category="refund")
    return run(registry.call("crm_lookup", request))


def test_support_looks_up_through_the_mcp_tool(db_url: str, configure: Any, mcp_crm: str) -> None:
    configure(["crm-over-mcp"])
    before = calls(mcp_crm).get("crm_lookup", 0)
    ticket = {**demo_input("auto refund"), "ticket_id": f"T-{uuid.uuid4().hex[:8]}"}
    thread = f"mcp-{uuid.uuid4().hex[:8]}"
    done = run(start_run("support", ticket, thread_id=thread, db_url=db_url))
    assert done.status == "completed", (done.values.get("failure"), done.interrupts)
    assert done.values["lookup"]["customer"]["name"] == "Ada Lovelace (via MCP)"
    assert done.values["resolution"]["refund_amount"] == "25.00"
    assert calls(mcp_crm)["crm_lookup"] == before + 1
    rows = query(
        db_url,
        "SELECT provider, provider_version FROM waypoint_ledger "
        "WHERE thread_id = ? AND capability = 'crm_lookup'",
        (thread,),
    )
    assert rows == [{"provider": "crm-over-mcp", "provider_version": "mcp"}]


def test_a_broken_contract_falls_back_then_fails_alone(configure: Any, mcp_crm: str) -> None:
    before = calls(mcp_crm).get("crm_lookup_broken", 0)
    configure(["crm-broken"])
    with pytest.raises(CapabilityContractError, match="crm-broken"):
        _lookup()
    assert calls(mcp_crm)["crm_lookup_broken"] == before + 1
    configure(["crm-broken", "crm-over-mcp"])
    result = _lookup()
    assert result.customer.name == "Grace Hopper (via MCP)"  # the next provider's answer


def test_a_tool_error_and_a_wrong_token_hand_over(
    configure: Any, mcp_crm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(["crm-failing", "crm-over-mcp"])
    assert _lookup().customer.name == "Grace Hopper (via MCP)"
    configure(["crm-failing"])
    with pytest.raises(McpToolError, match="the CRM is down"):
        _lookup()
    monkeypatch.setenv("CRM_MCP_TOKEN", "wrong-token-0123456789")
    configure(["crm-over-mcp"])
    with pytest.raises(ProviderUnavailable, match="crm-over-mcp"):
        _lookup()
    monkeypatch.delenv("CRM_MCP_TOKEN")
    with pytest.raises(ProviderUnavailable, match="CRM_MCP_TOKEN is not set"):
        _lookup()


def test_a_server_that_is_down_is_unavailable(configure: Any) -> None:
    configure(["crm-over-mcp"], url=f"http://127.0.0.1:{free_port()}/mcp")
    with pytest.raises(ProviderUnavailable, match="crm-over-mcp"):
        _lookup()


def test_an_unknown_capability_is_named(configure: Any) -> None:
    from waypoint.capabilities import registry

    configure(["demo-crm"], capability="no_such_capability")
    with pytest.raises(BadInput, match=r"mcp_providers\.crm-over-mcp\.capability") as caught:
        registry.validate_config()
    assert caught.value.field == "mcp_providers.crm-over-mcp.capability"


def test_the_registry_lists_the_mcp_providers(configure: Any, mcp_crm: str) -> None:
    from waypoint.capabilities import registry

    configure(["crm-over-mcp", "demo-crm"])
    registry.validate_config()
    cards = {card.name: card for card in registry.cards() if card.capability == "crm_lookup"}
    assert cards["crm-over-mcp"].owner == f"{mcp_crm}/mcp"
    assert "crm_lookup" in cards["crm-over-mcp"].description
    assert os.environ["CRM_MCP_TOKEN"] not in repr(cards)


def test_a_failing_tool_in_a_run_counts_against_its_breaker(
    db_url: str, configure: Any, mcp_crm: str
) -> None:
    configure(["crm-failing", "crm-over-mcp"])
    ticket = {**demo_input("auto refund"), "ticket_id": f"T-{uuid.uuid4().hex[:8]}"}
    thread = f"mcp-{uuid.uuid4().hex[:8]}"
    done = run(start_run("support", ticket, thread_id=thread, db_url=db_url))
    assert done.status == "completed", (done.values.get("failure"), done.interrupts)
    assert done.values["lookup"]["customer"]["name"] == "Ada Lovelace (via MCP)"
    breaker = query(
        db_url,
        "SELECT failures FROM waypoint_breakers WHERE provider = ?",
        ("crm_lookup/crm-failing",),
    )
    assert breaker and breaker[0]["failures"] >= 1, breaker
    rows = query(
        db_url,
        "SELECT provider, routing_reason FROM waypoint_ledger "
        "WHERE thread_id = ? AND capability = 'crm_lookup'",
        (thread,),
    )
    assert [row["provider"] for row in rows] == ["crm-over-mcp"]
    assert "crm-failing" in rows[0]["routing_reason"], rows

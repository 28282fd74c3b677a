"""`support` as other agents see it: it pays, so its MCP tool is destructive."""

from __future__ import annotations

from waypoint.server.describe import describe
from waypoint.server.mcp_tools import workflow_tools


def test_support_is_destructive_and_idempotent_by_its_keys() -> None:
    about = describe("support")
    assert about.effects == ("support.payment", "support.reply")
    assert about.annotations == {
        "readOnlyHint": False,
        "destructiveHint": True,
        "idempotentHint": True,
        "openWorldHint": True,
    }
    assert set(about.input_schema["required"]) >= {"ticket_id", "customer_id", "message"}
    assert about.examples and about.examples[0]["ticket_id"] == "T-1001"


def test_support_tool_carries_the_hints() -> None:
    tool = next(t for t in workflow_tools() if t.name == "support")
    assert tool.annotations is not None
    assert tool.annotations.destructiveHint is True
    assert tool.annotations.idempotentHint is True
    assert "support.payment" in (tool.description or "")

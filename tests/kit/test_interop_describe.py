"""What a workflow tells other agents: MCP hints and A2A cards, from its declarations."""

from __future__ import annotations

import json

from waypoint.effect_plan import declared_effects
from waypoint.server.a2a_agents import agent_card
from waypoint.server.describe import describe
from waypoint.server.mcp_tools import ANSWER_TOOL, KILL_TOOL, THREAD_TOOL, workflow_tools
from waypoint.workflows import load_workflow, workflow_names


def test_hints_follow_the_declared_effects() -> None:
    assert declared_effects(load_workflow("plain").served) == {"second": ("plain.notice",)}
    plain, flaky = describe("plain"), describe("flaky")
    assert plain.effects == ("plain.notice",)
    assert plain.annotations["destructiveHint"] is True
    assert plain.annotations["openWorldHint"] is True
    assert flaky.effects == ()
    assert flaky.annotations["destructiveHint"] is False
    assert flaky.annotations["openWorldHint"] is False
    assert flaky.annotations["readOnlyHint"] is False  # a call writes a thread


def test_a_plain_typeddict_input_has_a_schema() -> None:
    schema = describe("plain").input_schema  # a `typing.TypedDict` (pydantic wants 3.12+)
    assert schema["type"] == "object" and schema["properties"], schema


def test_every_workflow_is_a_tool_with_its_input_schema() -> None:
    tools = {tool.name: tool for tool in workflow_tools()}
    assert set(tools) == {*workflow_names(), ANSWER_TOOL, THREAD_TOOL, KILL_TOOL}
    plain = tools["plain"]
    assert plain.annotations is not None and plain.annotations.destructiveHint is True
    assert plain.inputSchema == describe("plain").input_schema
    assert plain.inputSchema.get("type") == "object"
    reader = tools[THREAD_TOOL].annotations
    assert reader is not None and reader.readOnlyHint is True


def test_the_agent_card_carries_the_description_and_schema() -> None:
    card = agent_card("plain", "http://127.0.0.1:9")
    about = describe("plain")
    assert card.name == "plain" and card.description == about.description
    assert card.supported_interfaces[0].url == "http://127.0.0.1:9/a2a/plain"
    skill = card.skills[0]
    assert json.dumps(about.input_schema, separators=(",", ":")) in skill.description
    assert "bearer" in card.security_schemes

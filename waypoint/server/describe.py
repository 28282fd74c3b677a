"""What a workflow tells another agent about itself: the A2A card's skill, the MCP tool.

Read from what the project already declares: the description in `langgraph.json`, the graph's
input schema, the side effects its nodes declare (`add_node(..., effects=...)`,
`waypoint.effect_plan`), and the inputs of its demo cases (`nodes/NAME/demo_cases.json`) as
examples.

Hints (MCP tool annotations), derived, never hand-written:

- `destructiveHint`: the workflow declares a side effect (a payment, a reply sent).
- `idempotentHint`: every declared effect is keyed by its business identity in the kit
  (`perform_once(key=effect_key(kind, ...))`), so a call repeated with the same input replays
  the recorded result instead of acting again. A workflow that declares no effect writes only
  its own thread, so it is idempotent too. A plain graph that performs effects without declaring
  them cannot be judged: declare them.
- `readOnlyHint`: never (every call writes a thread); `openWorldHint`: it declares effects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from waypoint.effect_plan import declared_effects
from waypoint.workflows import PROJECT_ROOT, load_workflow


@dataclass(frozen=True)
class WorkflowAbout:
    """One workflow as other agents see it."""

    name: str
    description: str
    input_schema: dict[str, Any]
    effects: tuple[str, ...]
    examples: list[Any]

    @property
    def annotations(self) -> dict[str, bool]:
        """MCP tool annotations derived from the declared effects (see the module doc)."""
        return {
            "readOnlyHint": False,
            "destructiveHint": bool(self.effects),
            "idempotentHint": True,
            "openWorldHint": bool(self.effects),
        }


def input_json_schema(schema: Any) -> dict[str, Any]:
    """The JSON schema of a workflow's input (a pydantic model or any type pydantic reads)."""
    from waypoint.runner import _adapter  # a `typing.TypedDict` is rebuilt for pydantic

    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    result: dict[str, Any] = _adapter(schema).json_schema()
    return result


def _examples(name: str) -> list[Any]:
    path = PROJECT_ROOT / "nodes" / name / "demo_cases.json"
    try:
        cases = json.loads(path.read_text()).get("cases") or []
    except (OSError, ValueError):
        return []
    return [case["input"] for case in cases[:3] if isinstance(case, dict) and "input" in case]


def describe(name: str) -> WorkflowAbout:
    """Workflow `name` as other agents see it.

    Raises:
        BadInput: no workflow of that name.
    """
    workflow = load_workflow(name)
    declared = declared_effects(workflow.served)
    effects = sorted({kind for kinds in declared.values() for kind in kinds})
    description = workflow.description or f"The {name} workflow."
    return WorkflowAbout(
        name=name,
        description=description,
        input_schema=input_json_schema(workflow.input_schema),
        effects=tuple(effects),
        examples=_examples(name),
    )

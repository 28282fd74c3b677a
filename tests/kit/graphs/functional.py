"""Kit test graph: LangGraph's functional API (`@entrypoint` / `@task`), no Waypoint import.

`double` runs once per number (parallel tasks); with `ask`, the entrypoint asks a human with a
plain `interrupt` before it returns.
"""

from __future__ import annotations

from typing import Any

from langgraph.func import entrypoint, task
from langgraph.types import interrupt


@task
def double(number: int) -> int:
    """Twice the number."""
    return number * 2


@entrypoint()
def functional(inputs: dict[str, Any]) -> dict[str, Any]:
    """Doubles every number, then (with `ask`) asks a human whether to keep the results."""
    results = [future.result() for future in [double(n) for n in inputs.get("numbers", [])]]
    answer = interrupt({"keep": results}) if inputs.get("ask") else "not asked"
    return {"results": results, "answer": answer}

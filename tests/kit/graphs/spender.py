"""Kit test graph: one node makes `calls` model calls in a row (daily budgets across runs).

The `kit_spend` capability has a prompt, so a run whose context names a `model` calls that
chat model; offline it answers at no cost. `tests/kit/priced_model.py` installs a fake chat
model that reports the usage of a priced model name.
"""

from __future__ import annotations

from typing import Any, TypedDict

from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from waypoint import Capability, OfflineProvider, registry


class SpendRequest(BaseModel):
    """Which call of the run this is."""

    n: int


class SpendAnswer(BaseModel):
    """The model's answer."""

    ok: bool


def _prompt(request: SpendRequest) -> list[BaseMessage]:
    return [HumanMessage(f"call {request.n}")]


SPEND = Capability("kit_spend", "A model call that costs money.", SpendRequest, SpendAnswer)


def _offline(request: SpendRequest) -> SpendAnswer:
    return SpendAnswer(ok=True)


registry.register(
    SPEND,
    OfflineProvider("kit_spend_offline", "1", "Offline: answers ok, free.", _offline),
    prompt=_prompt,
)


class SpendContext(BaseModel):
    """Run settings."""

    model: str | None = Field(default=None, description="`provider:model`; None: offline.")


class SpendState(TypedDict, total=False):
    """How many calls to make, and how many were made."""

    calls: int
    made: int


async def spend(state: SpendState, runtime: Runtime[SpendContext]) -> dict[str, Any]:
    """Makes the calls, one after the other."""
    for n in range(state.get("calls", 1)):
        await SPEND.call(SpendRequest(n=n), model=runtime.context.model)
    return {"made": state.get("calls", 1)}


builder = StateGraph(SpendState, context_schema=SpendContext)
builder.add_node("spend", spend)
builder.add_edge(START, "spend")
builder.add_edge("spend", END)
graph = builder.compile(name="spender")

"""Kit test graph: a node that calls a chat model itself (no `Capability`), `calls` times.

The model is langchain-core's fake chat model, answering as a priced model would report
itself (`openai:gpt-4o`, usage on each answer); `CALLS` counts the answers it really gave, so
a test can tell a refused call from a made one.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.base import LangSmithParams
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, ConfigDict, Field

from waypoint import Budgets, Halt

CALLS: list[str] = []
"""Every answer the fake model gave, in this process."""


class PricedFakeModel(GenericFakeChatModel):
    """A fake chat model that names itself `openai:gpt-4o` and reports usage."""

    max_tokens: int = 1000

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"], params["ls_model_name"] = "openai", "gpt-4o"
        params["ls_max_tokens"] = self.max_tokens
        return params


def _answers(count: int) -> list[AIMessage]:
    usage = {"input_tokens": 1000, "output_tokens": 500, "total_tokens": 1500}
    return [AIMessage(content=f"answer {i}", usage_metadata=usage) for i in range(count)]


class ChatterInput(BaseModel):
    """How many model calls the node makes."""

    model_config = ConfigDict(extra="forbid")

    calls: int = Field(default=2, ge=1, le=10)


class ChatterState(ChatterInput):
    """State: what the model said, and the kit's failure fields."""

    said: list[str] = Field(default_factory=list)
    failure: dict[str, Any] | None = None
    halt: Halt | None = None


class ChatterContext(BaseModel):
    """Run settings: the kit's budgets."""

    model_config = ConfigDict(extra="forbid")

    budgets: Budgets = Budgets(steps=20)


async def talk(state: ChatterState) -> dict[str, Any]:
    """Ask the model `calls` times, directly."""
    model = PricedFakeModel(messages=iter(_answers(state.calls)))
    said = []
    for index in range(state.calls):
        answer = await model.ainvoke([HumanMessage(content=f"question {index}")])
        CALLS.append(str(answer.content))
        said.append(str(answer.content))
    return {"said": said}


builder = StateGraph(ChatterState, context_schema=ChatterContext, input_schema=ChatterInput)
builder.add_node("talk", talk)
builder.add_edge(START, "talk")
builder.add_edge("talk", END)
graph = builder.compile(name="chatter")

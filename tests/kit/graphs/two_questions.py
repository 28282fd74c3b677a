"""Kit test graph: two parallel branches each ask a human; a join reads both answers."""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy
from pydantic import BaseModel, ConfigDict, Field

from waypoint import Halt, Ladder, add_node, ask_human, build_request


def _first(current: Any, new: Any) -> Any:
    """Reducer of `halt` and `failure`: the first value written wins; `None` clears it."""
    return new if current is None or new is None else current


class QuestionsInput(BaseModel):
    """What the two questions are about."""

    model_config = ConfigDict(extra="forbid")

    topic: str
    escalate_a_to: str | None = None
    """Give `ask_a` a deadline of `seconds` that hands it to this user (`on_timeout="escalate"`)."""
    seconds: float = 0.2


class QuestionsState(QuestionsInput):
    """The answers, gathered by a reducer from the parallel branches."""

    answers: Annotated[list[str], operator.add] = Field(default_factory=list)
    summary: str | None = None
    # both branches may stop in one step (a kill halts each): the first reason wins (pitfall 25)
    failure: Annotated[dict[str, Any] | None, _first] = None
    halt: Annotated[Halt | None, _first] = None


def _asker(name: str) -> Any:
    async def ask(state: QuestionsState) -> dict[str, Any]:
        escalates = name == "a" and state.escalate_a_to is not None
        request = build_request(
            action=f"confirm_{name}",
            args={"topic": state.topic},
            description=f"Confirm {name} for {state.topic}.",
            allowed=["approve", "reject"],
            deadline_seconds=state.seconds if escalates else None,
            on_timeout="escalate" if escalates else "reject",
            escalate_to=state.escalate_a_to if escalates else None,
        )
        decision = ask_human(request)
        return {"answers": [f"{name}:{decision.type}"]}

    return ask


async def join(state: QuestionsState) -> dict[str, Any]:
    """Both answers are in."""
    return {"summary": ",".join(sorted(state.answers))}


NO_RETRY = Ladder(retry=RetryPolicy(max_attempts=1), last="fail")


def build() -> StateGraph[QuestionsState, None, QuestionsInput, QuestionsState]:
    """START → ask_a and ask_b in parallel → join → END."""
    builder = StateGraph(QuestionsState, input_schema=QuestionsInput)
    add_node(builder, "ask_a", _asker("a"), NO_RETRY)
    add_node(builder, "ask_b", _asker("b"), NO_RETRY)
    add_node(builder, "join", join, NO_RETRY)
    builder.add_edge(START, "ask_a")
    builder.add_edge(START, "ask_b")
    builder.add_edge(["ask_a", "ask_b"], "join")
    builder.add_edge("join", END)
    return builder


graph = build().compile(name="two_questions")

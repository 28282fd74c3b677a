"""plan: the question → typed sub-questions (`plan_research`), then one `Send` task each."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Send

from nodes.research.capabilities import PLAN, PlanRequest
from state.research import ResearchContext, ResearchState, TaskInput
from waypoint import update


async def plan(state: ResearchState, runtime: Runtime[ResearchContext]) -> dict[str, Any]:
    """Split the question; copy the run's limits into state (routing reads state alone)."""
    request = PlanRequest(question=state.question, max_sub_questions=state.max_sub_questions)
    planned = await PLAN.call(request, model=runtime.context.model)
    subs = planned.sub_questions[: state.max_sub_questions]
    ids = [sub.id for sub in subs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"plan_research gave duplicate sub-question ids: {', '.join(ids)}")
    context = runtime.context
    return update(
        sub_questions=subs,
        tool_call_budget=context.tool_call_budget,
        max_revisions=context.max_revisions,
        use_memory=context.use_memory,
    )


def research_tasks(state: ResearchState) -> list[Send]:
    """One research task per sub-question, each with its own state (`TaskInput`)."""
    return [
        Send(
            "research",
            TaskInput(
                sub_question=sub,
                depth=state.depth,
                tool_call_budget=state.tool_call_budget,
                use_memory=state.use_memory,
            ).model_dump(mode="json"),
        )
        for sub in state.sub_questions
    ]

"""Human review of the brief, in the HITL shapes: accept, edit, request changes, or reject.

The node runs again from its first line on resume, so everything before `ask_human` is a pure
function of the state.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, Field

from nodes.research.brief import REVIEWER
from state.research import Brief, HumanReview, ResearchState
from waypoint import acting_user, ask_human, build_request, update


class BriefEdit(BaseModel):
    """What a reviewer may change in a brief: its text."""

    brief: str = Field(min_length=1)


async def review(state: ResearchState, config: RunnableConfig) -> dict[str, Any]:
    """A human approves the brief, edits it, asks for changes (free text), or rejects it."""
    assert state.brief is not None
    last = state.gate_verdicts[-1] if state.gate_verdicts else None
    if last is not None and not last.passed:
        why = f"the quality gate still fails after {state.revisions} rewrite(s): " + "; ".join(
            last.reasons
        )
    else:
        why = "the brief passed the quality gate; this run asked for a human review"
    request = build_request(
        action="review_brief",
        args={"question": state.question, "brief": state.brief.text},
        description=f"Review the research brief ({why}). Approve it, edit its text, respond "
        "with the changes you want (it is rewritten and comes back), or reject it.",
        allowed=["approve", "edit", "respond", "reject"],
        args_schema=BriefEdit,
    )
    decision = ask_human(request)
    human = HumanReview(
        decision=decision.type, message=decision.message, answered_by=acting_user(config)
    )
    if decision.type == "approve":
        return update(human=human, outcome="accepted")
    if decision.type == "reject":
        return update(human=human, outcome="rejected")
    if decision.type == "edit":
        text = decision.edits(BriefEdit).brief
        edited = Brief(text=text, attempt=state.brief.attempt + 1, edited_by_human=True)
        return update(human=human, brief=edited, outcome="edited")
    return update(human=human, feedback=[REVIEWER + (decision.message or "")], revisions=0)


def route_after_review(state: ResearchState) -> Literal["synthesise", "__end__"]:
    """Changes requested → rewrite; any other answer ends the thread."""
    return "__end__" if state.outcome is not None else "synthesise"

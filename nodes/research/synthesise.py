"""synthesise: the brief from every task's findings (fan-in), streamed token by token."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from nodes.research.brief import REVIEWER
from nodes.research.chat_model import chat_model
from nodes.research.prompts import writer_prompt
from state.research import Brief, ResearchContext, ResearchState
from waypoint import update


async def synthesise(state: ResearchState, runtime: Runtime[ResearchContext]) -> dict[str, Any]:
    """Write (or rewrite, with the gate's or a reviewer's feedback) the brief."""
    attempt = state.brief.attempt + 1 if state.brief is not None else 1
    rewrite = state.brief is not None and bool(state.gate_verdicts)
    asked_by_human = any(item.startswith(REVIEWER) for item in state.feedback)
    gate_failed = rewrite and not state.gate_verdicts[-1].passed and not asked_by_human
    facts = {
        "question": state.question,
        "sub_questions": [{"id": s.id, "text": s.text} for s in state.sub_questions],
        "findings": [f.model_dump(mode="json") for f in state.findings],
        "feedback": state.feedback,
        "attempt": attempt,
        "max_words": runtime.context.max_words,
    }
    answer = await chat_model(runtime.context.model).ainvoke(writer_prompt(facts))
    text = answer.text if isinstance(answer.text, str) else str(answer.content)
    return update(
        brief=Brief(text=text or "(empty)", attempt=attempt),
        revisions=state.revisions + 1 if gate_failed else state.revisions,
    )

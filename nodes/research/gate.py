"""The quality gate of `research`: an evaluator node whose typed verdict drives the loop."""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime

from nodes.research.brief import (
    NOT_RETRIEVED,
    TOO_LONG,
    citations,
    claim_lines,
    sections,
    words,
)
from state.research import ResearchContext, ResearchState
from waypoint import GateVerdict, update


def brief_checks(state: ResearchState, min_words: int, max_words: int) -> list[str]:
    """Every way the brief falls short; empty when it may go out."""
    assert state.brief is not None
    text = state.brief.text
    problems: list[str] = []
    found = sections(text)
    findings = {f.sub_question_id: f for f in state.findings}
    for sub in state.sub_questions:
        lines = found.get(sub.id)
        finding = findings.get(sub.id)
        if lines is None:
            problems.append(f"{sub.id}: no section '## {sub.id}.' in the brief")
        elif finding is None:
            problems.append(f"{sub.id}: no finding for this sub-question")
        elif not claim_lines(lines) and not any(ln.startswith("Unanswered") for ln in lines):
            problems.append(f"{sub.id}: neither answered nor marked 'Unanswered'")
        for line in claim_lines(lines or []):
            if not citations(line):
                problems.append(f"{sub.id}: claim without a citation: {line[:80]!r}")
    unknown = [c for c in citations(text) if c not in set(state.retrieved)]
    if unknown:
        problems.append(NOT_RETRIEVED + ", ".join(unknown))
    reused = [f.sub_question_id for f in state.findings if f.reused_from]
    if reused and "from memory" not in text.lower():
        problems.append(f"does not say that {', '.join(reused)} came from memory")
    count = words(text)
    if count > max_words:
        problems.append(f"{TOO_LONG}: {count} words, at most {max_words}")
    if count < min_words:
        problems.append(f"too short: {count} words, at least {min_words}")
    return problems


async def quality_gate(state: ResearchState, runtime: Runtime[ResearchContext]) -> dict[str, Any]:
    """Check the brief; keep the verdict, and the feedback for a rewrite."""
    problems = brief_checks(state, runtime.context.min_words, runtime.context.max_words)
    verdict = GateVerdict(
        gate="brief", passed=not problems, reasons=problems, score=float(len(problems))
    )
    fields: dict[str, Any] = {"gate_verdicts": [*state.gate_verdicts, verdict]}
    if problems:
        fields["feedback"] = problems
    elif not state.review and state.human is None:
        fields["outcome"] = "accepted"
    return update(**fields)


def route_after_gate(state: ResearchState) -> Literal["synthesise", "review", "__end__"]:
    """Pass → done (or a human, when asked for); fail → rewrite, then a human."""
    last = state.gate_verdicts[-1]
    if last.passed:
        return "__end__" if state.outcome is not None else "review"
    if state.revisions < state.max_revisions:
        return "synthesise"
    return "review"

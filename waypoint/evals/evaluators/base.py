"""What an evaluator is and what it returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from waypoint.evals.suite import Case, Suite
from waypoint.evals.trace_view import TraceView
from waypoint.json_records import JsonRecord


@dataclass
class Outcome(JsonRecord):
    """One evaluator's verdict on one case."""

    key: str
    passed: bool | None
    """None: skipped (e.g. an LLM judge with no judge model); never counted as passed."""
    score: float | None = None
    comment: str = ""


@dataclass
class ScoringContext:
    """What evaluators may need besides the case and its trace."""

    suite: Suite
    judge_model: str | None = None


class Evaluator(Protocol):
    """Scores one aspect of a case's trace."""

    key: str
    """Name in reports and in the suite's `evaluators` thresholds."""
    source: str
    """Where its logic comes from: openevals, agentevals, waypoint, openevals-judge."""

    def applies(self, case: Case, context: ScoringContext) -> bool:
        """Whether the case has an expectation this evaluator checks."""
        ...

    def evaluate(self, case: Case, view: TraceView, context: ScoringContext) -> Outcome:
        """Score the case."""
        ...


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted path (`outcome.kind`, `verdicts.0.passed`), else None."""
    current = data
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            current = current[index] if -len(current) <= index < len(current) else None
        else:
            return None
    return current

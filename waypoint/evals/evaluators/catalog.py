"""The evaluators a suite runs: the built-in ones, then its LLM judges."""

from __future__ import annotations

from waypoint.evals.evaluators.base import Evaluator
from waypoint.evals.evaluators.checks import (
    EndStatus,
    FailurePath,
    GateVerdicts,
    Interrupts,
    WithinBudgets,
)
from waypoint.evals.evaluators.judge import LLMJudge
from waypoint.evals.evaluators.matching import (
    NodeTrajectory,
    OutputMatch,
    ThreadTrajectory,
    ToolCalls,
)
from waypoint.evals.suite import Suite

BUILT_IN: tuple[type[Evaluator], ...] = (
    EndStatus,
    OutputMatch,
    NodeTrajectory,
    ThreadTrajectory,
    GateVerdicts,
    Interrupts,
    ToolCalls,
    FailurePath,
    WithinBudgets,
)


def evaluators_for(suite: Suite) -> list[Evaluator]:
    """Every enabled evaluator of the suite, built-in ones first."""
    chosen: list[Evaluator] = [cls() for cls in BUILT_IN]
    chosen.extend(LLMJudge(spec) for spec in suite.judges)
    return [
        e for e in chosen if suite.evaluators.get(e.key) is None or suite.evaluators[e.key].enabled
    ]

"""Deterministic evaluators from openevals and agentevals.

- `output`: openevals' JSON match (`create_json_match_evaluator`, all keys) on the final output
  fields the case names;
- `trajectory`: the nodes visited; `strict` with agentevals' `graph_trajectory_strict_match`,
  `unordered` / `subset` / `superset` with openevals' `create_trajectory_match_evaluator`, each
  node visit being one step of the trajectory;
- `thread_trajectory`: agentevals' strict match of the LangGraph thread trajectory (the nodes of
  each invocation, with `__interrupt__` where it paused);
- `tool_calls`: openevals' trajectory match of the capability and tool calls, with their
  arguments matched as a superset of the expected ones.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from agentevals.graph_trajectory.strict import graph_trajectory_strict_match
from openevals.json import create_json_match_evaluator
from openevals.trajectory.match import create_trajectory_match_evaluator

from waypoint.evals.evaluators.base import Outcome, ScoringContext, lookup
from waypoint.evals.suite import Case, TrajectoryMode
from waypoint.evals.trace_view import TraceView


def _score(result: Any) -> float:
    item = result[0] if isinstance(result, list) else result
    return float(item["score"])


def _same_value(actual: Any, expected: Any) -> Any:
    """`expected`, or `actual` when both are the same number written differently."""
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        try:
            if Decimal(str(actual)) == Decimal(str(expected)):
                return actual
        except (InvalidOperation, ValueError):
            return expected
    return expected


@cache
def _json_match() -> Any:
    return create_json_match_evaluator(aggregator="all")


class OutputMatch:
    """Final output fields (openevals JSON match)."""

    key = "output"
    source = "openevals"

    def applies(self, case: Case, context: ScoringContext) -> bool:
        """When the case names output fields."""
        return case.expect.output is not None

    def evaluate(self, case: Case, view: TraceView, context: ScoringContext) -> Outcome:
        """All named fields equal (numbers compared by value)."""
        expected_raw = case.expect.output or {}
        actual = {path: lookup(view.final_output, path) for path in expected_raw}
        expected = {path: _same_value(actual[path], v) for path, v in expected_raw.items()}
        score = _score(_json_match()(outputs=actual, reference_outputs=expected))
        wrong = [
            f"{p}={json.dumps(actual[p])} (want {json.dumps(v)})"
            for p, v in expected.items()
            if actual[p] != v
        ]
        return Outcome(self.key, score >= 1.0, score, "; ".join(wrong))


def _as_messages(calls: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each call as an assistant message with one tool call (openevals' trajectory shape)."""
    return [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
            ],
        }
        for name, args in calls
    ]


@cache
def _trajectory_match(mode: TrajectoryMode, args_mode: str) -> Any:
    return create_trajectory_match_evaluator(
        trajectory_match_mode=mode,
        tool_args_match_mode=args_mode,  # type: ignore[arg-type]
    )


def _graph(steps: list[list[str]]) -> dict[str, Any]:
    return {"inputs": [], "results": [], "steps": steps}


class NodeTrajectory:
    """Nodes visited, in the case's trajectory mode (agentevals strict, openevals others)."""

    key = "trajectory"
    source = "agentevals/openevals"

    def applies(self, case: Case, context: ScoringContext) -> bool:
        """When the case lists the nodes."""
        return case.expect.nodes is not None

    def evaluate(self, case: Case, view: TraceView, context: ScoringContext) -> Outcome:
        """Match the visited nodes against the expected ones."""
        expected = case.expect.nodes or []
        mode = case.expect.trajectory_mode or context.suite.defaults.trajectory_mode
        if mode == "strict":
            result = graph_trajectory_strict_match(
                outputs=_graph([view.path]), reference_outputs=_graph([expected])
            )
        else:
            result = _trajectory_match(mode, "ignore")(
                outputs=_as_messages([(node, {}) for node in view.path]),
                reference_outputs=_as_messages([(node, {}) for node in expected]),
            )
        score = _score(result)
        comment = "" if score else f"{mode}: visited {' > '.join(view.path)}"
        return Outcome(self.key, bool(score), score, comment)


class ThreadTrajectory:
    """The LangGraph thread trajectory (agentevals graph strict match)."""

    key = "thread_trajectory"
    source = "agentevals"

    def applies(self, case: Case, context: ScoringContext) -> bool:
        """When the case gives the steps of each invocation."""
        return case.expect.thread_steps is not None

    def evaluate(self, case: Case, view: TraceView, context: ScoringContext) -> Outcome:
        """Strict match, invocation by invocation."""
        result = graph_trajectory_strict_match(
            outputs=_graph(view.thread_steps),
            reference_outputs=_graph(case.expect.thread_steps or []),
        )
        score = _score(result)
        return Outcome(self.key, bool(score), score, "" if score else json.dumps(view.thread_steps))


class ToolCalls:
    """Capability and tool calls with their arguments (openevals trajectory match)."""

    key = "tool_calls"
    source = "openevals"

    def applies(self, case: Case, context: ScoringContext) -> bool:
        """When the case lists calls."""
        return case.expect.tool_calls is not None

    def evaluate(self, case: Case, view: TraceView, context: ScoringContext) -> Outcome:
        """Expected arguments must be contained in the actual ones."""
        actual = [(str(c["name"]), dict(c["args"] or {})) for c in view.tool_calls]
        expected = [(c.name, c.args) for c in case.expect.tool_calls or []]
        result = _trajectory_match(case.expect.tool_calls_mode, "superset")(
            outputs=_as_messages(actual), reference_outputs=_as_messages(expected)
        )
        score = _score(result)
        comment = "" if score else "called " + ", ".join(name for name, _ in actual)
        return Outcome(self.key, bool(score), score, comment)

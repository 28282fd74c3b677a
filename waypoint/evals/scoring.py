"""Score one case: run the evaluators that apply, find where it went wrong.

A failing case is put in a cluster named after the first thing that went wrong: replay drift at
a node, an error at a node, the node after which the trajectory left the expected path, or else
the first evaluator that failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from langsmith.run_helpers import tracing_context

from waypoint.evals.evaluators.base import Evaluator, Outcome, ScoringContext
from waypoint.evals.suite import Case
from waypoint.evals.trace_view import START, TraceView


@dataclass
class CaseResult:
    """One case's outcomes and measurements."""

    case_id: str
    tags: list[str]
    trace: str
    outcomes: list[Outcome] = field(default_factory=list)
    status: str | None = None
    error: str | None = None
    """Why the case could not be evaluated as recorded (unreadable trace, replay drift, crash)."""
    drift: list[dict[str, str]] = field(default_factory=list)
    diverged_at: str | None = None
    divergence: str | None = None
    cluster: str | None = None
    seconds: float = 0.0
    cost: Decimal = Decimal(0)
    tokens: int = 0
    model_calls: int = 0
    node_seconds: dict[str, float] = field(default_factory=dict)
    node_cost: dict[str, Decimal] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)
    input: dict[str, Any] | None = None
    output: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def errored(self) -> bool:
        """The case could not be run or scored as recorded."""
        return self.error is not None

    @property
    def passed(self) -> bool:
        """No error, and no evaluator failed (skipped ones do not count either way)."""
        return not self.errored and all(o.passed is not False for o in self.outcomes)

    def outcome(self, key: str) -> Outcome | None:
        """This case's outcome of evaluator `key`, if it applied."""
        return next((o for o in self.outcomes if o.key == key), None)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready record (also the shape a baseline keeps)."""
        return {
            "passed": self.passed,
            "status": self.status,
            "tags": self.tags,
            "trace": self.trace,
            "error": self.error,
            "drift": self.drift,
            "cluster": self.cluster,
            "diverged_at": self.diverged_at,
            "divergence": self.divergence,
            "path": self.path,
            "input": self.input,
            "output": self.output,
            "notes": self.notes,
            "seconds": round(self.seconds, 6),
            "cost_usd": str(self.cost),
            "tokens": self.tokens,
            "model_calls": self.model_calls,
            "node_seconds": {k: round(v, 6) for k, v in self.node_seconds.items()},
            "node_cost_usd": {k: str(v) for k, v in self.node_cost.items()},
            "evaluators": {o.key: o.as_json() for o in self.outcomes},
        }


def divergence(expected: list[str], actual: list[str]) -> tuple[str, str] | None:
    """The node after which `actual` leaves `expected`, and how; None when they agree."""
    for index, (want, got) in enumerate(zip(expected, actual, strict=False)):
        if want != got:
            before = actual[index - 1] if index else START
            return before, f"after {before}: went to {got}, expected {want}"
    if len(actual) > len(expected):
        before = actual[len(expected) - 1] if expected else START
        return before, f"after {before}: went on to {actual[len(expected)]}, expected the end"
    if len(actual) < len(expected):
        before = actual[-1] if actual else START
        return before, f"after {before}: stopped, expected {expected[len(actual)]}"
    return None


def _first_index(path: list[str], node: str) -> float:
    return float(path.index(node)) if node in path else float(len(path))


def _cluster(result: CaseResult, view: TraceView | None) -> str | None:
    """Name the first thing that went wrong, in the order of the path.

    A divergence after node N sits between N and the next node, so an error or drift in N itself
    comes first; on the same spot, the root cause (drift, then error) wins.
    """
    if result.passed:
        return None
    path = result.path
    found: list[tuple[float, int, str]] = []
    if result.drift:
        node = result.drift[0]["node"]
        found.append((_first_index(path, node), 0, f"drift at {node}"))
    failure = result.outcome("failure")
    if view is not None and failure is not None and failure.passed is False and view.errors:
        node = str(view.errors[0]["node"])
        found.append((_first_index(path, node), 1, f"error at {node}"))
    if result.diverged_at is not None:
        node = result.diverged_at
        where = -0.5 if node == START else _first_index(path, node) + 0.5
        found.append((where, 2, f"diverged after {node}"))
    if found:
        return min(found)[2]
    if result.errored:
        return "error: " + (result.error or "")[:60]
    first = next((o for o in result.outcomes if o.passed is False), None)
    return f"{first.key} failed" if first else None


def score_case(
    case: Case,
    view: TraceView,
    evaluators: list[Evaluator],
    context: ScoringContext,
    *,
    trace: str = "",
    error: str | None = None,
    drift: list[dict[str, str]] | None = None,
    notes: list[str] | None = None,
) -> CaseResult:
    """Run every evaluator that applies to the case (and that the case selects)."""
    node_cost = view.cost(context.suite.usd_per_1k_tokens)
    result = CaseResult(
        case_id=case.id,
        tags=list(case.tags),
        trace=trace,
        status=view.status,
        error=error,
        drift=list(drift or []),
        seconds=view.seconds,
        cost=sum(node_cost.values(), Decimal(0)),
        tokens=view.tokens,
        model_calls=view.model_calls,
        node_seconds=view.node_seconds(),
        node_cost=node_cost,
        path=list(view.path),
        input=view.header.input,
        output=view.final_output,
        notes=list(notes or []),
    )
    with tracing_context(enabled=False):  # openevals traces each evaluator call otherwise
        for evaluator in evaluators:
            if case.evaluators is not None and evaluator.key not in case.evaluators:
                continue
            if not evaluator.applies(case, context):
                continue
            try:
                result.outcomes.append(evaluator.evaluate(case, view, context))
            except Exception as exc:  # an evaluator bug must not hide the other results
                message = f"evaluator {evaluator.key} crashed: {type(exc).__name__}: {exc}"
                result.outcomes.append(Outcome(evaluator.key, False, 0.0, message))
                result.error = result.error or message
    if case.expect.nodes is not None:
        found = divergence(case.expect.nodes, view.path)
        if found is not None:
            result.diverged_at, result.divergence = found
    result.cluster = _cluster(result, view)
    return result


def unreadable_case(case: Case, trace: str, error: str) -> CaseResult:
    """A case whose trace could not be read or run: errored, every evaluator unscored."""
    result = CaseResult(case_id=case.id, tags=list(case.tags), trace=trace, error=error)
    result.cluster = _cluster(result, None)
    return result

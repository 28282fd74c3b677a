"""Waypoint's own evaluators: end status, gate verdicts, interrupts, failure path, budgets."""

from __future__ import annotations

from typing import Any

from waypoint.evals.evaluators.base import Outcome, ScoringContext, lookup
from waypoint.evals.suite import Case
from waypoint.evals.trace_view import TraceView


class EndStatus:
    """How the run ended: completed, failed, waiting (for a human), halted."""

    key = "status"
    source = "waypoint"

    def applies(self, case: Case, context: ScoringContext) -> bool:
        """When the case says how it ends."""
        return case.expect.status is not None

    def evaluate(self, case: Case, view: TraceView, context: ScoringContext) -> Outcome:
        """Equal status."""
        ok = view.status == case.expect.status
        return Outcome(self.key, ok, float(ok), "" if ok else f"ended {view.status}")


class GateVerdicts:
    """The quality gates' verdicts, in the order they were written."""

    key = "gates"
    source = "waypoint"

    def applies(self, case: Case, context: ScoringContext) -> bool:
        """When the case lists gate verdicts."""
        return case.expect.gates is not None

    def evaluate(self, case: Case, view: TraceView, context: ScoringContext) -> Outcome:
        """Same gates, same pass/fail, same order."""
        actual = [(str(v["gate"]), bool(v["passed"])) for v in view.verdicts]
        expected = [(g.gate, g.passed) for g in case.expect.gates or []]
        ok = actual == expected
        shown = ", ".join(f"{gate} {'pass' if passed else 'FAIL'}" for gate, passed in actual)
        return Outcome(self.key, ok, float(ok), "" if ok else f"verdicts: {shown or 'none'}")


class Interrupts:
    """The human interrupts raised (node and HITL action), in order."""

    key = "interrupts"
    source = "waypoint"

    def applies(self, case: Case, context: ScoringContext) -> bool:
        """When the case lists interrupts (an empty list means none)."""
        return case.expect.interrupts is not None

    def evaluate(self, case: Case, view: TraceView, context: ScoringContext) -> Outcome:
        """Same nodes and actions (an expected action of None matches any)."""
        expected = case.expect.interrupts or []
        actual = view.interrupts
        ok = len(actual) == len(expected) and all(
            a["node"] == e.node and (e.action is None or a["action"] == e.action)
            for a, e in zip(actual, expected, strict=True)
        )
        shown = ", ".join(f"{a['node']}:{a['action']}" for a in actual) or "none"
        return Outcome(self.key, ok, float(ok), "" if ok else f"raised {shown}")


def _describe(halt: Any) -> str:
    return f"halt {lookup(halt, 'kind')} before {lookup(halt, 'node')}" if halt else "no halt"


class FailurePath:
    """Errors, failure and halt exactly as expected: where, of what type, or none at all.

    A node error is allowed when the case lists it in `errors`, or when it is the expected
    `failure` node; a `GuardHalt` only when a `halt` is expected. Every listed error must occur.
    """

    key = "failure"
    source = "waypoint"

    def applies(self, case: Case, context: ScoringContext) -> bool:
        """Always: an unexpected error, failure or halt fails every case."""
        return True

    def evaluate(self, case: Case, view: TraceView, context: ScoringContext) -> Outcome:
        """Compare the recorded errors, failure and halt with the expectation."""
        expect = case.expect
        failure, halt = view.final_output.get("failure"), view.final_output.get("halt")
        problems: list[str] = []
        allowed = {e.node for e in expect.errors or []}
        if expect.failure is not None:
            allowed.add(expect.failure.node)
        for error in view.errors:
            guard = error["type"] == "GuardHalt" and expect.halt is not None
            if error["node"] not in allowed and not guard:
                problems.append(f"unexpected error at {error['node']}: {error['type']}")
                break
        for wanted in expect.errors or []:
            if not any(
                e["node"] == wanted.node and wanted.error_type in (None, e["type"])
                for e in view.errors
            ):
                problems.append(f"expected an error at {wanted.node}; none")
        if expect.failure is None and failure:
            problems.append(f"unexpected failure at {lookup(failure, 'node')}")
        if expect.failure is not None:
            ok = bool(failure) and lookup(failure, "node") == expect.failure.node
            ok = ok and expect.failure.error_type in (None, lookup(failure, "error_type"))
            if not ok:
                got = f"{lookup(failure, 'node')}: {lookup(failure, 'error_type')}"
                problems.append(f"expected failure at {expect.failure.node}; got {got}")
        if expect.halt is None and halt:
            problems.append(f"unexpected {_describe(halt)}")
        if expect.halt is not None:
            ok = bool(halt) and lookup(halt, "kind") == expect.halt.kind
            ok = ok and expect.halt.node in (None, lookup(halt, "node"))
            if not ok:
                problems.append(f"expected halt {expect.halt.kind}; got {_describe(halt)}")
        return Outcome(self.key, not problems, float(not problems), "; ".join(problems))


class WithinBudgets:
    """Cost, time, model calls and tokens within the case's budgets."""

    key = "budgets"
    source = "waypoint"

    def applies(self, case: Case, context: ScoringContext) -> bool:
        """When the case (or the suite default) sets a budget."""
        budgets = context.suite.budgets(case)
        return any(value is not None for value in budgets.model_dump().values())

    def evaluate(self, case: Case, view: TraceView, context: ScoringContext) -> Outcome:
        """Every limit respected."""
        budgets = context.suite.budgets(case)
        cost = sum(view.cost(context.suite.usd_per_1k_tokens).values())
        over: list[str] = []
        if budgets.max_cost_usd is not None and cost > budgets.max_cost_usd:
            over.append(f"cost {cost:.6f} > {budgets.max_cost_usd}")
        if budgets.max_seconds is not None and view.seconds > budgets.max_seconds:
            over.append(f"time {view.seconds:.3f}s > {budgets.max_seconds}s")
        if budgets.max_model_calls is not None and view.model_calls > budgets.max_model_calls:
            over.append(f"model calls {view.model_calls} > {budgets.max_model_calls}")
        if budgets.max_tokens is not None and view.tokens > budgets.max_tokens:
            over.append(f"tokens {view.tokens} > {budgets.max_tokens}")
        return Outcome(self.key, not over, float(not over), "; ".join(over))

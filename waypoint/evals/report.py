"""Aggregate a suite run and decide whether CI passes.

The gate fails (exit 1) when an evaluator's pass rate falls below its threshold, a case that
passed in the baseline fails, a case errored (unreadable trace, replay drift, a crash), or a
case's cost grows past its budget. Skipped evaluators (an LLM judge with no judge model) are
reported and never counted as passed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from waypoint.errors import BadInput
from waypoint.evals.evaluators.catalog import evaluators_for
from waypoint.evals.scoring import CaseResult
from waypoint.evals.session import SuiteRun

BASELINE_SCHEMA = "waypoint.eval-baseline/1"


@dataclass
class EvaluatorStats:
    """How one evaluator did across the cases it applied to."""

    key: str
    source: str
    threshold: float
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def scored(self) -> int:
        """Cases it passed or failed (skipped ones excluded)."""
        return self.passed + self.failed

    @property
    def pass_rate(self) -> float | None:
        """Share of scored cases that passed; None when it scored none."""
        return self.passed / self.scored if self.scored else None

    @property
    def ok(self) -> bool:
        """At or above its threshold (or nothing scored)."""
        rate = self.pass_rate
        return rate is None or rate + 1e-12 >= self.threshold


@dataclass
class GroupStats:
    """Cases of one tag (or one cluster of failures)."""

    name: str
    cases: list[str] = field(default_factory=list)
    passed: int = 0

    @property
    def pass_rate(self) -> float:
        """Share of its cases that passed."""
        return self.passed / len(self.cases) if self.cases else 1.0


@dataclass
class NodeStats:
    """Time and cost spent in one node across the cases that visited it."""

    node: str
    cases: int = 0
    seconds: float = 0.0
    cost: Decimal = Decimal(0)

    @property
    def mean_seconds(self) -> float:
        """Mean time per case that visited the node."""
        return self.seconds / self.cases if self.cases else 0.0


@dataclass
class Baseline:
    """Which cases passed in an earlier run (a baseline file or any JSON report)."""

    passed: dict[str, bool]
    source: str

    @classmethod
    def read(cls, path: Path) -> Baseline:
        """Read a baseline or a report written by `waypoint eval --report`.

        Raises:
            BadInput: unreadable, or without a `cases` mapping.
        """
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            cases = data["cases"]
            passed = {str(k): bool(v["passed"]) for k, v in cases.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BadInput(
                f"baseline {path}: not a baseline or report ({exc})", field="baseline"
            ) from exc
        return cls(passed=passed, source=str(path))


@dataclass
class Report:
    """Everything `waypoint eval` shows and writes."""

    run: SuiteRun
    evaluators: list[EvaluatorStats]
    tags: list[GroupStats]
    clusters: list[GroupStats]
    nodes: list[NodeStats]
    regressions: list[str]
    over_budget: list[str]
    problems: list[str]
    baseline: str | None = None

    @property
    def results(self) -> list[CaseResult]:
        """Per-case results, in suite order."""
        return self.run.results

    @property
    def exit_code(self) -> int:
        """0 when the gate passes, else 1."""
        return 1 if self.problems else 0

    def as_json(self) -> dict[str, Any]:
        """The JSON report (its `cases` mapping also serves as a baseline)."""
        suite = self.run.suite
        return {
            "report_schema": "waypoint.eval-report/1",
            "suite": suite.name,
            "graph": suite.graph,
            "mode": self.run.mode,
            "judge_model": self.run.judge_model,
            "context_overrides": self.run.context_overrides,
            "seconds": round(self.run.seconds, 3),
            "passed": self.exit_code == 0,
            "problems": self.problems,
            "baseline": self.baseline,
            "regressions": self.regressions,
            "over_budget": self.over_budget,
            "totals": {
                "cases": len(self.results),
                "passed": sum(r.passed for r in self.results),
                "errored": sum(r.errored for r in self.results),
            },
            "evaluators": {
                e.key: {
                    "source": e.source,
                    "passed": e.passed,
                    "failed": e.failed,
                    "skipped": e.skipped,
                    "pass_rate": e.pass_rate,
                    "threshold": e.threshold,
                    "ok": e.ok,
                }
                for e in self.evaluators
            },
            "tags": {t.name: {"cases": len(t.cases), "pass_rate": t.pass_rate} for t in self.tags},
            "clusters": {c.name: c.cases for c in self.clusters},
            "nodes": {
                n.node: {
                    "cases": n.cases,
                    "mean_seconds": round(n.mean_seconds, 6),
                    "cost_usd": str(n.cost),
                }
                for n in self.nodes
            },
            "cases": {r.case_id: r.as_json() for r in self.results},
        }

    def baseline_json(self) -> dict[str, Any]:
        """What a baseline file keeps: which cases passed, their cost and evaluator verdicts."""
        return {
            "baseline_schema": BASELINE_SCHEMA,
            "suite": self.run.suite.name,
            "mode": self.run.mode,
            "cases": {
                r.case_id: {
                    "passed": r.passed,
                    "cost_usd": str(r.cost),
                    "evaluators": {o.key: o.passed for o in r.outcomes},
                }
                for r in self.results
            },
        }


def _evaluator_stats(run: SuiteRun) -> list[EvaluatorStats]:
    sources = {e.key: e.source for e in evaluators_for(run.suite)}
    stats: dict[str, EvaluatorStats] = {
        key: EvaluatorStats(key, source, run.suite.threshold(key))
        for key, source in sources.items()
    }
    for result in run.results:
        for outcome in result.outcomes:
            entry = stats.setdefault(
                outcome.key, EvaluatorStats(outcome.key, "?", run.suite.threshold(outcome.key))
            )
            if outcome.passed is None:
                entry.skipped += 1
            elif outcome.passed:
                entry.passed += 1
            else:
                entry.failed += 1
    return [s for s in stats.values() if s.scored or s.skipped]


def _groups(results: list[CaseResult], key: str) -> list[GroupStats]:
    groups: dict[str, GroupStats] = {}
    for result in results:
        names = result.tags if key == "tag" else ([result.cluster] if result.cluster else [])
        for name in names:
            group = groups.setdefault(name, GroupStats(name))
            group.cases.append(result.case_id)
            group.passed += result.passed
    return sorted(groups.values(), key=lambda g: (-len(g.cases), g.name))


def _nodes(results: list[CaseResult]) -> list[NodeStats]:
    nodes: dict[str, NodeStats] = defaultdict(lambda: NodeStats(""))
    for result in results:
        for node, seconds in result.node_seconds.items():
            entry = nodes[node]
            entry.node = node
            entry.cases += 1
            entry.seconds += seconds
        for node, cost in result.node_cost.items():
            nodes[node].node = node
            nodes[node].cost += cost
    return sorted(nodes.values(), key=lambda n: -n.seconds)


def build_report(run: SuiteRun, baseline: Baseline | None = None) -> Report:
    """Aggregate the results and list every reason the gate fails."""
    evaluators = _evaluator_stats(run)
    problems = [
        f"evaluator {e.key}: pass rate {e.pass_rate:.2%} below threshold {e.threshold:.2%}"
        for e in evaluators
        if not e.ok and e.pass_rate is not None
    ]
    errored = [r.case_id for r in run.results if r.errored]
    if errored:
        problems.append(f"{len(errored)} case(s) errored: {', '.join(errored)}")
    regressions: list[str] = []
    if baseline is not None:
        regressions = [
            r.case_id for r in run.results if baseline.passed.get(r.case_id) and not r.passed
        ]
        if regressions:
            problems.append(f"passed in the baseline, failing now: {', '.join(regressions)}")
    cases = {case.id: case for case in run.suite.cases}
    over_budget = []
    for result in run.results:
        limit = run.suite.budgets(cases[result.case_id]).max_cost_usd
        if limit is not None and result.cost > limit:
            over_budget.append(result.case_id)
    if over_budget:
        problems.append(f"cost per case past its budget: {', '.join(over_budget)}")
    return Report(
        run=run,
        evaluators=evaluators,
        tags=_groups(run.results, "tag"),
        clusters=_groups(run.results, "cluster"),
        nodes=_nodes(run.results),
        regressions=regressions,
        over_budget=over_budget,
        problems=problems,
        baseline=baseline.source if baseline else None,
    )

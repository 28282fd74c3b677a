"""`waypoint eval --upload`: the suite as a LangSmith dataset, the run as an experiment.

Needs `LANGSMITH_API_KEY`. The dataset `waypoint-<suite>` gets one example per case (input,
expectations, case id and tags as metadata); missing cases are added, existing ones kept. The
experiment's target returns each case's final output as it was scored here, and one LangSmith
evaluator per Waypoint evaluator reports the same verdicts, so LangSmith shows exactly what the
command line showed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from waypoint.errors import BadInput
from waypoint.evals.report import Report
from waypoint.evals.scoring import CaseResult

API_KEY_ENV = "LANGSMITH_API_KEY"


def require_api_key() -> None:
    """Refuse early (exit 2) when no LangSmith key is set.

    Raises:
        BadInput: `LANGSMITH_API_KEY` is not set.
    """
    if not os.environ.get(API_KEY_ENV):
        raise BadInput(
            f"upload: --upload needs {API_KEY_ENV} (a LangSmith API key); it is not set, so "
            "nothing was uploaded. Run without --upload, or set the key.",
            field="upload",
        )


def dataset_name(report: Report) -> str:
    """The LangSmith dataset of the suite."""
    return f"waypoint-{report.run.suite.name}"


def examples(report: Report) -> list[dict[str, Any]]:
    """One LangSmith example per case: inputs, expectations as outputs, case id as metadata."""
    cases = {case.id: case for case in report.run.suite.cases}
    return [
        {
            "inputs": {"case_id": r.case_id, **(r.input or {})},
            "outputs": cases[r.case_id].expect.model_dump(mode="json", exclude_none=True),
            "metadata": {"case_id": r.case_id, "tags": r.tags},
        }
        for r in report.results
    ]


def target_for(results: dict[str, CaseResult]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The experiment's target: the case's final output, as scored here."""

    def target(inputs: dict[str, Any]) -> dict[str, Any]:
        result = results.get(str(inputs.get("case_id")))
        return dict(result.output) if result else {}

    return target


def evaluator_for(key: str, results: dict[str, CaseResult]) -> Callable[..., dict[str, Any]]:
    """A LangSmith evaluator reporting Waypoint's verdict of `key` on the example's case."""

    def evaluate(inputs: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
        result = results.get(str(inputs.get("case_id")))
        outcome = result.outcome(key) if result else None
        if outcome is None or outcome.passed is None:
            return {"key": key, "score": None, "comment": outcome.comment if outcome else "n/a"}
        return {"key": key, "score": float(outcome.passed), "comment": outcome.comment}

    evaluate.__name__ = key
    return evaluate


def upload(report: Report) -> str:
    """Create (or extend) the dataset and upload the run as an experiment; return its name."""
    require_api_key()
    from langsmith import Client

    client = Client()
    name = dataset_name(report)
    if client.has_dataset(dataset_name=name):
        dataset = client.read_dataset(dataset_name=name)
        known = {
            str((example.metadata or {}).get("case_id"))
            for example in client.list_examples(dataset_id=dataset.id)
        }
    else:
        dataset = client.create_dataset(name, description=report.run.suite.description)
        known = set()
    missing = [e for e in examples(report) if e["metadata"]["case_id"] not in known]
    if missing:
        client.create_examples(dataset_id=dataset.id, examples=missing)
    results = {r.case_id: r for r in report.results}
    experiment = client.evaluate(
        target_for(results),
        data=name,
        evaluators=[evaluator_for(e.key, results) for e in report.evaluators],
        experiment_prefix=f"{report.run.suite.name}-{report.run.mode}",
        metadata={"mode": report.run.mode, "gate_passed": report.exit_code == 0},
    )
    return str(experiment.experiment_name)

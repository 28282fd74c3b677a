"""An eval suite file (YAML, JSON or Python), validated by pydantic.

A suite lives in `evals/<graph>/`: the suite file lists cases, each with its trace (a path
relative to the suite file), tags, how it was recorded (input, context, human answers) and its
expectations; plus which evaluators apply and their pass-rate thresholds. A Python suite file
defines `SUITE` (a dict or a `Suite`).
"""

from __future__ import annotations

import importlib.util
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from waypoint.errors import BadInput

TrajectoryMode = Literal["strict", "unordered", "subset", "superset"]
Status = Literal["completed", "failed", "waiting", "halted", "error"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Budgets(_Strict):
    """Limits one case must stay within."""

    max_cost_usd: Decimal | None = Field(default=None, ge=0, description="Model cost, USD.")
    max_seconds: float | None = Field(
        default=None, gt=0, description="Time inside the graph (human waits excluded)."
    )
    max_model_calls: int | None = Field(default=None, ge=0, description="Model calls made.")
    max_tokens: int | None = Field(default=None, ge=0, description="Tokens models reported.")


class ExpectedGate(_Strict):
    """A gate verdict the run must write, in order of writing."""

    gate: str
    passed: bool


class ExpectedInterrupt(_Strict):
    """A human interrupt the run must raise, in order."""

    node: str
    action: str | None = Field(default=None, description="The HITL action request's name.")


class ExpectedToolCall(_Strict):
    """A capability (or tool) call; `args` must be contained in the call's arguments."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class ExpectedFailure(_Strict):
    """The node a run must fail in (its failure path), and optionally the error type."""

    node: str
    error_type: str | None = None


class ExpectedHalt(_Strict):
    """A guard or kill halt the run must end with (`halt.kind`, and the node it stopped before)."""

    kind: str
    node: str | None = None


class ExpectedError(_Strict):
    """A node run that is allowed (and required) to raise, e.g. before a human recovered it."""

    node: str
    error_type: str | None = None


class Expectations(_Strict):
    """What a case's trace must show; an expectation left out is not checked."""

    status: Status | None = Field(default=None, description="How the run ends.")
    output: dict[str, Any] | None = Field(
        default=None, description="Final output fields by dotted path, e.g. outcome.kind."
    )
    nodes: list[str] | None = Field(default=None, description="Nodes visited, in order.")
    trajectory_mode: TrajectoryMode | None = Field(
        default=None, description="How `nodes` is matched (default from the suite)."
    )
    thread_steps: list[list[str]] | None = Field(
        default=None, description="LangGraph thread trajectory: nodes per invocation."
    )
    gates: list[ExpectedGate] | None = None
    interrupts: list[ExpectedInterrupt] | None = Field(
        default=None, description="Interrupts raised, in order; [] means none."
    )
    tool_calls: list[ExpectedToolCall] | None = None
    tool_calls_mode: TrajectoryMode = Field(
        default="superset", description="superset: at least these calls; strict: exactly."
    )
    failure: ExpectedFailure | None = Field(
        default=None, description="The expected failure; without it any error run fails."
    )
    errors: list[ExpectedError] | None = Field(
        default=None, description="Node errors that must happen (a recovered failure)."
    )
    halt: ExpectedHalt | None = Field(
        default=None, description="The expected halt; without it a halted run fails."
    )
    budgets: Budgets | None = Field(default=None, description="Overrides the suite default.")


class RecordSpec(_Strict):
    """How the case's trace is (re-)recorded."""

    input: dict[str, Any]
    context: dict[str, Any] = Field(default_factory=dict)
    policy: dict[str, Any] = Field(
        default_factory=dict,
        description="The operator's policy the case runs under, as `[policy.<graph>]` in "
        "waypoint.toml would set it (a context may only tighten the policy).",
    )
    answers: list[dict[str, Any]] = Field(
        default_factory=list, description="Human answers, applied in order when the run waits."
    )


class Case(_Strict):
    """One recorded run and what it must show."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    trace: str = Field(description="Trace file, relative to the suite file.")
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    record: RecordSpec | None = None
    expect: Expectations = Field(default_factory=Expectations)
    evaluators: list[str] | None = Field(
        default=None, description="Only these evaluators (default: every one that applies)."
    )


class EvaluatorSettings(_Strict):
    """Pass-rate threshold of an evaluator (share of applicable cases that must pass)."""

    threshold: float = Field(default=1.0, ge=0.0, le=1.0)
    enabled: bool = True


class JudgeSpec(_Strict):
    """An LLM-as-judge evaluator (openevals); runs only when a judge model is configured."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    prompt: str = Field(
        description="An openevals prompt name (correctness, conciseness, hallucination, "
        "helpfulness...) or a prompt text with {inputs} and {outputs}."
    )
    inputs: str = Field(default="input.message", description="Dotted path: input.* or output.*")
    outputs: str = Field(default="output.draft.text", description="Dotted path of the answer.")
    reference: str | None = Field(
        default=None, description="Dotted path of the reference (input.*, output.*, expect.*)."
    )
    min_score: float = Field(
        default=1.0, ge=0.0, le=1.0, description="A case passes at this judge score or above."
    )
    tags: list[str] = Field(default_factory=list, description="Only cases with one of these tags.")


class Defaults(_Strict):
    """Applied to every case that does not say otherwise."""

    trajectory_mode: TrajectoryMode = "strict"
    budgets: Budgets = Field(default_factory=Budgets)


class Suite(_Strict):
    """A suite file."""

    suite_schema: Literal["waypoint.eval-suite/1"] = "waypoint.eval-suite/1"
    name: str
    graph: str = Field(description="Graph name from langgraph.json.")
    description: str = ""
    defaults: Defaults = Field(default_factory=Defaults)
    evaluators: dict[str, EvaluatorSettings] = Field(default_factory=dict)
    judges: list[JudgeSpec] = Field(default_factory=list)
    judge_model: str | None = Field(
        default=None, description="provider:model of the judge; WAYPOINT_JUDGE_MODEL overrides."
    )
    usd_per_1k_tokens: dict[str, Decimal] = Field(
        default_factory=dict, description="Price per 1,000 tokens by model, for cost budgets."
    )
    definitions: Any = Field(default=None, description="Free space for YAML anchors.")
    cases: list[Case]
    directory: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _unique_ids(self) -> Suite:
        seen: set[str] = set()
        for case in self.cases:
            if case.id in seen:
                raise ValueError(f"case id {case.id!r} is used twice")
            seen.add(case.id)
        return self

    def trace_path(self, case: Case) -> Path:
        """Where the case's trace file is."""
        return (self.directory / case.trace).resolve()

    def budgets(self, case: Case) -> Budgets:
        """The case's budgets (its own, else the suite default)."""
        return case.expect.budgets or self.defaults.budgets

    def threshold(self, evaluator: str) -> float:
        """Pass-rate threshold of an evaluator (1.0 unless the suite says otherwise)."""
        settings = self.evaluators.get(evaluator)
        return settings.threshold if settings else 1.0


def _load_python(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"waypoint_suite_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise BadInput(f"suite {path}: cannot import it", field="suite")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    suite = getattr(module, "SUITE", None)
    if suite is None:
        raise BadInput(f"suite {path}: a Python suite defines SUITE", field="suite")
    return suite.model_dump() if isinstance(suite, Suite) else suite


def suite_file(path: Path) -> Path:
    """The suite file: `path` itself, or `suite.yaml` / `suite.py` / `suite.json` inside it."""
    if path.is_dir():
        for name in ("suite.yaml", "suite.yml", "suite.py", "suite.json"):
            if (path / name).exists():
                return path / name
        raise BadInput(f"suite: no suite.yaml, suite.py or suite.json in {path}", field="suite")
    if not path.exists():
        raise BadInput(f"suite: {path} does not exist", field="suite")
    return path


def load_suite(path: Path) -> Suite:
    """Read and validate a suite file.

    Raises:
        BadInput: unreadable, not YAML/JSON/Python, or invalid (the first problem is named).
    """
    file = suite_file(path)
    try:
        if file.suffix == ".py":
            raw = _load_python(file)
        elif file.suffix == ".json":
            raw = json.loads(file.read_text(encoding="utf-8"))
        else:
            raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, yaml.YAMLError) as exc:
        raise BadInput(f"suite {file}: cannot read it: {exc}", field="suite") from exc
    if not isinstance(raw, dict):
        raise BadInput(f"suite {file}: expected a mapping at the top", field="suite")
    try:
        suite = Suite.model_validate({**raw, "directory": file.parent})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise BadInput(f"suite {file}: {where}: {first['msg']}", field=where) from exc
    return suite

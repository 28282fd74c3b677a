"""The contract between the kit and a workflow: the fields and hooks the kit relies on.

A workflow's state extends `WorkflowState` and its run context `WorkflowContext`; everything
else in them is the workflow's own. The kit reads nothing else by name:

- `halt`, `failure`: how a run stopped short (a guard or a kill; a node's failure ladder);
- `schema_version`: which version of the state schema wrote the thread (state migrations);
- gate verdicts: any field holding a `GateVerdict` (or a list of them), found by shape;
- `summary()`: what `threads`, `status`, the demo table and the KPIs show of a thread;
- the context's `budgets` (guards) and `model` (the capability registry).

A graph whose state does not extend `WorkflowState` (a plain LangGraph graph) still runs: the
kit then finds `halt` and `failure` by key when present, and summarises a thread by its status.
`status_of` is the one place a thread's status is derived.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from waypoint.guards import Budgets, Halt, first_stop

Status = Literal["completed", "failed", "waiting", "halted", "incomplete"]
"""Where a thread stands: ended well, failed, waiting for a human, stopped by a guard or a kill,
or stopped without finishing (a crash, a lost database: `waypoint resume` continues it)."""

PROTECTED: dict[str, Any] = {"protected": True}
"""`json_schema_extra` of a state field only the workflow's own nodes may write (decisions,
verdicts, human answers): a caller's update or `goto` may not (`waypoint.admission`)."""

SENSITIVE: dict[str, Any] = {"sensitive": True}
"""`json_schema_extra` of a field that never reaches the ledger or a trace file."""


class GateVerdict(BaseModel):
    """A quality gate's typed verdict, kept in state for audit and routing.

    ```python
    verdict = GateVerdict(gate="review", passed=False, reasons=["amount differs"])
    return update(verdicts=[*state.verdicts, verdict])
    ```
    """

    gate: str = Field(description="Gate name.")
    passed: bool = Field(description="Whether the checked work may go on.")
    reasons: list[str] = Field(default_factory=list, description="Why it failed, one per check.")
    score: float | None = Field(default=None, description="Measured value, if the gate has one.")


class Failure(BaseModel):
    """Why a run stopped on its failure path (written by a node's failure ladder)."""

    node: str
    error_type: str
    message: str


class ThreadSummary(BaseModel):
    """What the kit shows of a thread: in `threads`, `status`, the demo table and the KPIs."""

    subject: str | None = Field(default=None, description="What the thread is about (an id).")
    outcome: str | None = Field(
        default=None, description="How it ended, in a few words (e.g. 'refunded 25.00')."
    )


class WorkflowState(BaseModel):
    """Base of a workflow's shared state: the fields the kit reads and writes.

    ```python
    class CaseState(WorkflowState):
        case_id: str
        decision: Decision | None = Field(default=None, json_schema_extra=PROTECTED)

        def summary(self) -> ThreadSummary:
            return ThreadSummary(subject=self.case_id, outcome=...)
    ```
    """

    model_config = ConfigDict(extra="ignore")

    schema_version: int = Field(
        default=1,
        description="State schema version; stored in every thread so old threads can be migrated.",
        json_schema_extra=PROTECTED,
    )
    failure: Annotated[Failure | None, first_stop] = Field(
        default=None,
        description="Set when a node failed past its ladder (exit 1).",
        json_schema_extra=PROTECTED,
    )
    halt: Annotated[Halt | None, first_stop] = Field(
        default=None,
        description="Set when a guard or a kill stopped the run before a node (exit 4).",
        json_schema_extra=PROTECTED,
    )

    def summary(self) -> ThreadSummary:
        """What the kit shows of this thread; override to name its subject and outcome."""
        return ThreadSummary()


class WorkflowContext(BaseModel):
    """Base of a workflow's run context (Studio shows the field descriptions).

    Budgets are policy: `[policy.<workflow>.budgets]` in waypoint.toml sets the most a run may
    use, and a run's context may only tighten them (`waypoint.policy`).
    """

    model_config = ConfigDict(extra="forbid")

    budgets: Budgets = Field(
        default_factory=lambda: Budgets(steps=100, wall_seconds=600),
        description="Per-run limits: steps, model calls, tokens, cost, wall time, node visits, "
        "allowed side effects. A breach halts the run before its next node (exit 4). Policy: "
        "a run may only tighten each.",
    )
    model: str | None = Field(
        default=None,
        description="'provider:model' for the model capabilities; empty means the offline "
        "deterministic providers.",
    )


def status_of(
    values: Mapping[str, Any], *, waiting: bool, pending: bool, cut_off: bool, started: bool
) -> Status:
    """A thread's status, from its latest state: the one place it is derived.

    Args:
        values: the state's values (after any writes its last step saved).
        waiting: a question for a human is pending.
        pending: nodes are due to run (`next` is not empty).
        cut_off: some tasks saved their writes but their step's checkpoint never followed.
        started: the thread has a checkpoint at all.
    """
    if waiting:
        return "waiting"
    if not started or cut_off:
        return "incomplete"
    if values.get("halt"):
        return "halted"
    if values.get("failure"):
        return "failed"
    return "incomplete" if pending else "completed"


def gate_verdicts(values: Mapping[str, Any]) -> list[GateVerdict]:
    """Every gate verdict in the state, found by shape (a field, or a list of them), in order."""
    found: list[GateVerdict] = []
    for value in values.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and {"gate", "passed"} <= item.keys():
                try:
                    found.append(GateVerdict.model_validate(item))
                except ValidationError:
                    continue
            elif isinstance(item, GateVerdict):
                found.append(item)
    return found


def latest_verdicts(values: Mapping[str, Any]) -> list[GateVerdict]:
    """The last verdict of each gate, in the order the gates first appear."""
    latest: dict[str, GateVerdict] = {}
    for verdict in gate_verdicts(values):
        latest[verdict.gate] = verdict
    return list(latest.values())


def summarize(state_schema: Any, values: Mapping[str, Any]) -> ThreadSummary:
    """The workflow's summary of a thread (`WorkflowState.summary`); empty for other states."""
    if isinstance(state_schema, type) and issubclass(state_schema, WorkflowState) and values:
        try:
            return state_schema.model_validate(dict(values)).summary()
        except ValidationError:
            return ThreadSummary()
    return ThreadSummary()

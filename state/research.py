"""Typed state of the `research` workflow (questions about Python's standard library).

Two schemas: `ResearchState`, the thread's shared state, and `TaskState`, the state of one
research task (a subgraph run per sub-question, started by `Send`). Tasks hand their findings
back through reducers (`merge_findings`, `merge_ids`), so parallel tasks never overwrite each
other and a failed task's sub-question still arrives, marked unanswered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from pydantic import BaseModel, ConfigDict, Field

from waypoint import (
    PROTECTED,
    Budgets,
    Failure,
    GateVerdict,
    Halt,
    ThreadSummary,
    WorkflowContext,
    WorkflowState,
)

SCHEMA_VERSION = 1
"""Version of this state schema; stored in every thread so old threads can be migrated."""

SubQuestionKind = Literal["definition", "usage", "caveat", "comparison", "topic"]
Outcome = Literal["accepted", "edited", "rejected"]


class ResearchInput(BaseModel):
    """What a caller sends to start a `research` run."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    question: str = Field(
        min_length=3, max_length=2000, description="A question about Python's standard library."
    )
    max_sub_questions: int = Field(
        default=4, ge=2, le=6, description="Most sub-questions the plan may have (2 to 6)."
    )
    depth: int = Field(
        default=2, ge=1, le=5, description="Passages each research task reads in full (1 to 5)."
    )
    review: bool = Field(
        default=False,
        description="A human reviews the brief before it is final (otherwise only a brief the "
        "quality gate keeps failing goes to a human).",
    )


class SubQuestion(BaseModel):
    """One typed part of the question, researched by its own task."""

    id: str = Field(pattern=r"^q[1-6]$", description="q1..q6, in plan order.")
    text: str = Field(min_length=3, max_length=500, description="The sub-question.")
    kind: SubQuestionKind = Field(description="What kind of answer it needs.")
    target: str | None = Field(
        default=None, max_length=120, description="The module or name it is about, if one."
    )


class Plan(BaseModel):
    """Output of the `plan_research` capability: 2 to 6 sub-questions."""

    sub_questions: list[SubQuestion] = Field(min_length=2, max_length=6)


class Claim(BaseModel):
    """One statement of a finding and the passages it rests on."""

    text: str = Field(min_length=1)
    citations: list[str] = Field(default_factory=list, description="Passage ids.")


class Finding(BaseModel):
    """What one research task found for its sub-question (or why it found nothing)."""

    sub_question_id: str
    question: str
    status: Literal["answered", "unanswered"]
    claims: list[Claim] = Field(default_factory=list)
    reason: str | None = Field(default=None, description="Why it is unanswered.")
    tool_calls: int = Field(default=0, description="Tool calls the task made.")
    reused_from: str | None = Field(
        default=None, description="The earlier thread whose finding was reused from memory."
    )


class Brief(BaseModel):
    """The written answer: markdown with a section per sub-question and the sources."""

    text: str = Field(min_length=1)
    attempt: int = Field(ge=1, description="1 for the first brief, 2 for the first revision...")
    edited_by_human: bool = False


class HumanReview(BaseModel):
    """What a human decided about the brief, kept for the audit trail."""

    decision: Literal["approve", "edit", "reject", "respond"]
    message: str | None = None
    answered_by: str | None = None


def _as_finding(value: Any) -> Finding:
    return value if isinstance(value, Finding) else Finding.model_validate(value)


def merge_findings(current: Sequence[Any] | None, new: Sequence[Any] | None) -> list[Any]:
    """Reducer of `findings`: one per sub-question, in sub-question order; a later one wins.

    `None` written on purpose clears them (a new plan).
    """
    if new is None:
        return []
    by_id: dict[str, Any] = {}
    for item in [*(current or []), *new]:
        by_id[_as_finding(item).sub_question_id] = item
    return [by_id[key] for key in sorted(by_id)]


def merge_ids(current: Sequence[str] | None, new: Sequence[str] | None) -> list[str]:
    """Reducer of `retrieved`: the union of passage ids, sorted."""
    return sorted({*(current or []), *(new or [])})


class ResearchState(ResearchInput, WorkflowState):
    """Shared state of one `research` thread (the kit's fields come from `WorkflowState`)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    sub_questions: list[SubQuestion] = Field(
        default_factory=list, description="The plan.", json_schema_extra=PROTECTED
    )
    tool_call_budget: int = Field(
        default=6,
        description="Tool calls each research task may make (copied from the run context by "
        "plan, so routing depends on state alone).",
        json_schema_extra=PROTECTED,
    )
    use_memory: bool = Field(
        default=True,
        description="Whether tasks may reuse findings kept in the Store (from the context).",
        json_schema_extra=PROTECTED,
    )
    findings: Annotated[list[Finding], merge_findings] = Field(
        default_factory=list,
        description="One per sub-question, written by its task.",
        json_schema_extra=PROTECTED,
    )
    retrieved: Annotated[list[str], merge_ids] = Field(
        default_factory=list,
        description="Every passage id a tool returned in this thread (citations must be here).",
        json_schema_extra=PROTECTED,
    )
    brief: Brief | None = Field(default=None, json_schema_extra=PROTECTED)
    gate_verdicts: list[GateVerdict] = Field(
        default_factory=list,
        description="Quality gate verdicts, one per brief, oldest first.",
        json_schema_extra=PROTECTED,
    )
    feedback: list[str] = Field(
        default_factory=list,
        description="What the next brief must fix: the gate's findings or a reviewer's words.",
        json_schema_extra=PROTECTED,
    )
    revisions: int = Field(
        default=0,
        description="Briefs rewritten after a failed gate; bounded by `max_revisions`.",
        json_schema_extra=PROTECTED,
    )
    max_revisions: int = Field(
        default=2,
        description="Rewrites allowed after a failed gate before a human sees the brief "
        "(copied from the run context by plan: the loop's termination lives in state).",
        json_schema_extra=PROTECTED,
    )
    human: HumanReview | None = Field(default=None, json_schema_extra=PROTECTED)
    outcome: Outcome | None = Field(default=None, json_schema_extra=PROTECTED)

    def summary(self) -> ThreadSummary:
        """The question, and how the brief ended (`threads`, `status`, the demo, KPIs)."""
        outcome = None
        if self.outcome is not None:
            answered = sum(1 for f in self.findings if f.status == "answered")
            reused = sum(1 for f in self.findings if f.reused_from)
            outcome = f"{self.outcome}: {answered}/{len(self.findings)} answered"
            if reused:
                outcome += f", {reused} from memory"
        return ThreadSummary(subject=self.question[:60], outcome=outcome)


class ResearchOutput(BaseModel):
    """What a finished (or paused) `research` run returns."""

    question: str
    sub_questions: list[SubQuestion] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    brief: Brief | None = None
    gate_verdicts: list[GateVerdict] = Field(default_factory=list)
    outcome: Outcome | None = None
    human: HumanReview | None = None
    failure: Failure | None = None
    halt: Halt | None = None


class TaskInput(BaseModel):
    """What `plan` sends each research task (`Send("research", ...)`)."""

    sub_question: SubQuestion
    depth: int = Field(ge=1, le=5)
    tool_call_budget: int = Field(ge=0)
    use_memory: bool = True


class TaskState(TaskInput, WorkflowState):
    """State of one research task: an agent loop over `messages`, then its finding."""

    messages: Annotated[list[AnyMessage], add_messages] = Field(default_factory=list)
    tool_calls_used: int = Field(default=0, description="Tool calls made so far.")
    budget_exhausted: bool = Field(
        default=False, description="The model asked for more tool calls than the budget left."
    )
    findings: list[Finding] = Field(default_factory=list, description="This task's one finding.")
    retrieved: list[str] = Field(default_factory=list, description="Passage ids tools returned.")


class TaskOutput(BaseModel):
    """What a research task hands back to the thread (merged by the reducers).

    A guard's halt or a kill inside the task reaches the thread through `halt`.
    """

    findings: list[Finding] = Field(default_factory=list)
    retrieved: list[str] = Field(default_factory=list)
    halt: Halt | None = None
    failure: Failure | None = None


class ResearchContext(WorkflowContext):
    """Run-time settings of a `research` run (Studio shows these descriptions)."""

    tool_call_budget: int = Field(
        default=6,
        ge=0,
        le=30,
        description="Tool calls each research task may make before it must write its finding. "
        "Policy: a run may only lower it.",
        json_schema_extra={"policy": "at_most"},
    )
    max_revisions: int = Field(
        default=2,
        ge=0,
        le=5,
        description="Rewrites of a brief that fails the quality gate before a human sees it. "
        "Policy: a run may only lower it.",
        json_schema_extra={"policy": "at_most"},
    )
    min_words: int = Field(
        default=20, ge=1, le=5000, description="Shortest brief the quality gate passes (words)."
    )
    max_words: int = Field(
        default=400, ge=10, le=20000, description="Longest brief the quality gate passes (words)."
    )
    use_memory: bool = Field(
        default=True,
        description="Reuse findings of earlier threads of the same user kept in the Store.",
    )
    memory_ttl_minutes: float = Field(
        default=7 * 24 * 60,
        gt=0,
        le=365 * 24 * 60,
        description="How long a finding kept in the Store may be reused (minutes).",
    )
    budgets: Budgets = Field(
        default_factory=lambda: Budgets(steps=250, model_calls=80, wall_seconds=300),
        description="Per-run limits: steps, model calls, tokens, cost, wall time, node visits, "
        "allowed side effects. A breach halts the run before its next node (exit 4). Policy: "
        "a run may only tighten each.",
    )
    model: str | None = Field(
        default=None,
        description="'provider:model' for the chat model of the research tasks, the planner "
        "and the writer; empty means the offline deterministic providers.",
    )

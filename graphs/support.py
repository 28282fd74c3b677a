"""Wiring of the `support` workflow (customer refund desk): nodes, gates, humans, policies.

`graph` is the workflow's graph, compiled WITHOUT a checkpointer (the server brings its own);
`langgraph.json` serves it through `./waypoint/serving.py:support`, which fits it with the
kit's ledger, guards, kill switch and admission. The command line copies it with its saver.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.graph import START, StateGraph
from langgraph.types import RetryPolicy, TimeoutPolicy

from nodes.support.classify import classify
from nodes.support.decide import decide
from nodes.support.draft import draft
from nodes.support.execute import execute, route_after_execute
from nodes.support.gates import (
    classification_gate,
    review_gate,
    route_after_classification,
    route_after_review,
)
from nodes.support.humans import (
    approval,
    escalate,
    human_triage,
    route_after_approval,
    route_after_escalation,
    route_after_triage,
)
from nodes.support.intake import intake
from nodes.support.lookup import lookup, route_after_lookup
from state.support import SupportContext, SupportOutput, SupportState, TicketInput
from waypoint import Escalation, Ladder, add_node, retry_on, set_default_ladder

RECURSION_LIMIT = 100
"""Explicit bound on super-steps (LangGraph's default is 10007); the review loop is bounded too."""

MODEL_RETRY = RetryPolicy(max_attempts=3, initial_interval=0.2, max_interval=5.0, retry_on=retry_on)
"""Provider calls: three attempts, 429-aware (the registry waits out Retry-After)."""

EFFECT_RETRY = RetryPolicy(max_attempts=3, initial_interval=0.2, retry_on=retry_on)
"""The side-effect node: safe to retry because its effects are idempotent."""

NO_RETRY = RetryPolicy(max_attempts=1)
"""Plain code and human steps: a retry would fail the same way."""

MODEL_TIMEOUT = TimeoutPolicy(run_timeout=60.0)
"""Timeouts fire in async nodes only; every node here is async."""


def _classified_by_human(values: dict[str, Any], state: Any) -> dict[str, Any]:
    del state
    category = values["category"]
    rationale = "set by a human after classify failed"
    return {"classification": {"category": category, "confidence": 1.0, "rationale": rationale}}


def _lookup_by_human(values: dict[str, Any], state: Any) -> dict[str, Any]:
    del values, state
    problems = ["the CRM lookup failed; a human handles this ticket"]
    return {"lookup": {"customer": None, "order": None, "problems": problems}}


def _drafted_by_human(values: dict[str, Any], state: Any) -> dict[str, Any]:
    attempt = int(getattr(state, "drafts_in_round", 0)) + 1
    return {"draft": {"text": values["reply"], "attempt": attempt}, "drafts_in_round": attempt}


LADDERS: dict[str, Ladder] = {
    "intake": Ladder(retry=NO_RETRY, last="fail"),
    "classify": Ladder(
        retry=MODEL_RETRY,
        timeout=MODEL_TIMEOUT,
        fallback="classify_ticket",
        escalate=Escalation(
            skip_to="classification_gate",
            skip_schema={"category": {"type": "string", "enum": ["refund", "shipping", "other"]}},
            skip_update=_classified_by_human,
        ),
        last="halt",
    ),
    "classification_gate": Ladder(retry=NO_RETRY, last="halt"),
    "human_triage": Ladder(retry=NO_RETRY, last="fail"),
    "lookup": Ladder(
        retry=MODEL_RETRY,
        timeout=MODEL_TIMEOUT,
        fallback="crm_lookup",
        escalate=Escalation(skip_to="escalate", skip_update=_lookup_by_human),
        last="halt",
    ),
    "escalate": Ladder(retry=NO_RETRY, last="fail"),
    "decide": Ladder(retry=NO_RETRY, last="halt"),
    "draft": Ladder(
        retry=MODEL_RETRY,
        timeout=MODEL_TIMEOUT,
        fallback="draft_reply",
        escalate=Escalation(
            skip_to="review_gate",
            skip_schema={"reply": {"type": "string", "minLength": 1}},
            skip_update=_drafted_by_human,
        ),
        last="halt",
    ),
    "review_gate": Ladder(retry=NO_RETRY, last="halt"),
    "approval": Ladder(retry=NO_RETRY, last="fail"),
    "execute": Ladder(retry=EFFECT_RETRY, escalate=Escalation(), last="halt"),
}
"""Every node's failure path: retry, timeout, fallback, escalate to a human, then halt or fail.
`waypoint graph support --policies` prints this table."""

EFFECTS: dict[str, tuple[str, ...]] = {"execute": ("support.payment", "support.reply")}
"""The side effects each node performs: `replay` and `fork` name them before they may act."""

NODES: dict[str, Callable[..., Any]] = {
    "intake": intake,
    "classify": classify,
    "classification_gate": classification_gate,
    "human_triage": human_triage,
    "lookup": lookup,
    "escalate": escalate,
    "decide": decide,
    "draft": draft,
    "review_gate": review_gate,
    "approval": approval,
    "execute": execute,
}


def build() -> StateGraph[SupportState, SupportContext, TicketInput, SupportOutput]:
    """The `support` graph builder: nodes with their failure ladders, edges, gates, humans."""
    builder = StateGraph(
        SupportState,
        context_schema=SupportContext,
        input_schema=TicketInput,
        output_schema=SupportOutput,
    )
    set_default_ladder(builder)  # a node without a ladder of its own gets the kit's
    for name, action in NODES.items():
        add_node(builder, name, action, LADDERS.get(name), effects=EFFECTS.get(name, ()))
    add_edges(builder)
    return builder


def add_edges(
    builder: StateGraph[SupportState, SupportContext, TicketInput, SupportOutput],
) -> None:
    """The edges and routers between the nodes (the benchmark's bare wiring uses them too)."""
    builder.add_edge(START, "intake")
    builder.add_edge("intake", "classify")
    builder.add_edge("classify", "classification_gate")
    builder.add_conditional_edges("classification_gate", route_after_classification)
    builder.add_conditional_edges("human_triage", route_after_triage)
    builder.add_conditional_edges("lookup", route_after_lookup)
    builder.add_conditional_edges("escalate", route_after_escalation)
    builder.add_edge("decide", "draft")
    builder.add_edge("draft", "review_gate")
    builder.add_conditional_edges("review_gate", route_after_review)
    builder.add_conditional_edges("approval", route_after_approval)
    builder.add_conditional_edges("execute", route_after_execute)


graph = build().compile(name="support").with_config(recursion_limit=RECURSION_LIMIT)

"""Wiring of the `support` workflow (customer refund desk): nodes, gates, humans, policies.

`graph` is what `langgraph.json` serves: compiled WITHOUT a checkpointer (the server brings its
own). The command line and tests compile `build()` again with the saver from the database URL.
"""

from __future__ import annotations

from typing import Any, cast

from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy, TimeoutPolicy

from nodes.support.classify import classify
from nodes.support.decide import decide
from nodes.support.draft import draft
from nodes.support.execute import execute
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
from waypoint.failures import record_failure

RECURSION_LIMIT = 100
"""Explicit bound on super-steps (LangGraph's default is 10007); the review loop is bounded too."""

MODEL_RETRY = RetryPolicy(max_attempts=3, initial_interval=0.2, max_interval=5.0)
"""Nodes that call a provider: retried on transient errors."""

MODEL_TIMEOUT = TimeoutPolicy(run_timeout=60.0)
"""...and bounded in time (timeouts fire in async nodes only; every node here is async)."""

EFFECT_RETRY = RetryPolicy(max_attempts=3, initial_interval=0.2)
"""The side-effect node: safe to retry because its effects are idempotent."""

NO_RETRY = RetryPolicy(max_attempts=1)
"""Plain code and human steps: a retry would fail the same way."""


def build() -> StateGraph[SupportState, SupportContext, TicketInput, SupportOutput]:
    """The `support` graph builder; every node fails into `record_failure` as its last rung."""
    builder = StateGraph(
        SupportState,
        context_schema=SupportContext,
        input_schema=TicketInput,
        output_schema=SupportOutput,
    )
    # LangGraph injects `NodeError` by annotation; its node protocols do not spell that out.
    builder.set_node_defaults(error_handler=cast(Any, record_failure))
    builder.add_node("intake", intake, retry_policy=NO_RETRY)
    builder.add_node("classify", classify, retry_policy=MODEL_RETRY, timeout=MODEL_TIMEOUT)
    builder.add_node("classification_gate", classification_gate, retry_policy=NO_RETRY)
    builder.add_node("human_triage", human_triage, retry_policy=NO_RETRY)
    builder.add_node("lookup", lookup, retry_policy=MODEL_RETRY, timeout=MODEL_TIMEOUT)
    builder.add_node("escalate", escalate, retry_policy=NO_RETRY)
    builder.add_node("decide", decide, retry_policy=NO_RETRY)
    builder.add_node("draft", draft, retry_policy=MODEL_RETRY, timeout=MODEL_TIMEOUT)
    builder.add_node("review_gate", review_gate, retry_policy=NO_RETRY)
    builder.add_node("approval", approval, retry_policy=NO_RETRY)
    builder.add_node("execute", execute, retry_policy=EFFECT_RETRY)

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
    builder.add_edge("execute", END)
    return builder


graph = build().compile(name="support").with_config(recursion_limit=RECURSION_LIMIT)

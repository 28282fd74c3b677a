"""OpenTelemetry spans of node invocations, sent over OTLP when an endpoint is configured.

Off by default. With `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` set
(the standard variables; `OTEL_SERVICE_NAME` names the service, default `waypoint`), every
node invocation of a run, from the command line or a server, is one span `node NAME` with its
thread, graph, step and task, and how it ended: `returned`, `interrupted` (asked a human),
`halted` (a guard or a kill) or `error` (with the exception). Spans are batched and sent over
OTLP/HTTP by the OpenTelemetry SDK; a process flushes them as it exits.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langgraph.errors import GraphInterrupt
from opentelemetry.trace import Span, Status, StatusCode, Tracer

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
"""Either one switches tracing on."""


def tracing_configured() -> bool:
    """Whether an OTLP endpoint is configured for this process."""
    return any(os.environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


@cache
def _tracer() -> Tracer:
    """The process's tracer, exporting in batches over OTLP/HTTP (flushed at exit)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    service = os.environ.get("OTEL_SERVICE_NAME") or "waypoint"
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider.get_tracer("waypoint")


class NodeSpans(BaseCallbackHandler):
    """A span per node invocation (LangGraph's node runs, as the ledger counts them)."""

    run_inline = True

    def __init__(self, graph: str) -> None:
        """Spans of `graph`'s runs."""
        self.graph = graph
        self._spans: dict[UUID, Span] = {}

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A node starts: its span opens."""
        metadata = kwargs.get("metadata") or {}
        node = metadata.get("langgraph_node")
        if not node or kwargs.get("name") != node or str(node).startswith("__"):
            return
        attributes: dict[str, str | int] = {
            "waypoint.graph": self.graph,
            "waypoint.node": str(node),
            "waypoint.step": int(metadata.get("langgraph_step", -1)),
            "waypoint.thread_id": str(metadata.get("thread_id", "")),
            "langgraph.checkpoint_ns": str(metadata.get("langgraph_checkpoint_ns", "")),
            "langgraph.task_path": str(metadata.get("langgraph_path", "")),
        }
        self._spans[run_id] = _tracer().start_span(f"node {node}", attributes=attributes)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """The node returned."""
        span = self._spans.pop(run_id, None)
        if span is not None:
            span.set_attribute("waypoint.outcome", "returned")
            span.set_status(Status(StatusCode.OK))
            span.end()

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """The node asked a human, was halted, or failed."""
        span = self._spans.pop(run_id, None)
        if span is None:
            return
        if isinstance(error, GraphInterrupt):
            span.set_attribute("waypoint.outcome", "interrupted")
        elif type(error).__name__ == "GuardHalt":
            span.set_attribute("waypoint.outcome", "halted")
            span.set_attribute("waypoint.halt", str(error)[:500])
        else:
            span.set_attribute("waypoint.outcome", "error")
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()


def node_spans(graph: str) -> list[NodeSpans]:
    """`[NodeSpans(graph)]` when tracing is configured, else `[]` (a callbacks list to add)."""
    return [NodeSpans(graph)] if tracing_configured() else []

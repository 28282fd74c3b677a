"""A callback tracer that keeps each graph invocation as LangSmith-shaped run dicts.

`TraceRecorder` is a `langchain_core` `BaseTracer`: LangChain builds the run tree (ids, parents,
trace id, dotted order, metadata with `langgraph_node` and `langgraph_step`) exactly as it does
for LangSmith, and this class turns each finished tree into plain JSON. Two things differ from a
LangSmith upload, on purpose: a node paused by `interrupt()` is not an error (its outputs hold
`__interrupt__`, as `graph.invoke` returns them), and errors keep their type and message in
`extra.metadata.waypoint_error` so replay can raise the same failure again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

from langchain_core.tracers.base import BaseTracer
from langchain_core.tracers.schemas import Run
from langgraph.errors import GraphInterrupt

from waypoint.evals.jsonable import jsonable

INTERRUPT_KEY = "__interrupt__"
"""Output key of a paused node (and of its invocation's root run), as LangGraph returns it."""


def _walk(run: Run) -> Iterator[Run]:
    yield run
    for child in run.child_runs or []:
        yield from _walk(child)


def _usage(outputs: Any) -> dict[str, int] | None:
    """Token usage a chat model reported in an LLM run's generations."""
    if not isinstance(outputs, dict):
        return None
    for batch in outputs.get("generations") or []:
        for generation in batch or []:
            message = generation.get("message") if isinstance(generation, dict) else None
            if not isinstance(message, dict):
                continue
            fields = message.get("kwargs", message)
            usage = fields.get("usage_metadata") if isinstance(fields, dict) else None
            if isinstance(usage, dict):
                return {k: int(v) for k, v in usage.items() if isinstance(v, int)}
    return None


class TraceRecorder(BaseTracer):
    """Collects finished run trees; `runs` holds them flattened, in execution order."""

    run_inline = True
    """Called in the event loop, in order (never from a thread pool)."""

    def __init__(self) -> None:
        """Start with no runs."""
        super().__init__()
        self.runs: list[dict[str, Any]] = []
        self._interrupts: dict[str, list[Any]] = {}
        self._errors: dict[str, dict[str, str]] = {}

    def _note_error(self, error: BaseException, run_id: UUID) -> None:
        if isinstance(error, GraphInterrupt):
            pending = error.args[0] if error.args else ()
            self._interrupts[str(run_id)] = [
                {"id": getattr(item, "id", None), "value": jsonable(getattr(item, "value", item))}
                for item in pending
            ]
        else:
            self._errors[str(run_id)] = {
                "type": type(error).__name__,
                "message": str(error)[:2000],
            }

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> Run:
        """Remember an interrupt or the error's type before the base class stringifies it."""
        self._note_error(error, run_id)
        return super().on_chain_error(error, run_id=run_id, **kwargs)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> Run:
        """As `on_chain_error`, for model runs."""
        self._note_error(error, run_id)
        return super().on_llm_error(error, run_id=run_id, **kwargs)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> Run:
        """As `on_chain_error`, for tool runs."""
        self._note_error(error, run_id)
        return super().on_tool_error(error, run_id=run_id, **kwargs)

    def _as_dict(self, run: Run) -> dict[str, Any]:
        key = str(run.id)
        metadata = jsonable(dict(run.extra.get("metadata") or {}))
        outputs = jsonable(run.outputs) if run.outputs is not None else None
        error = run.error
        status = "error" if error else "success"
        if key in self._interrupts:
            outputs = {**(outputs or {}), INTERRUPT_KEY: self._interrupts.pop(key)}
            error, status = None, "interrupted"
        if key in self._errors:
            metadata["waypoint_error"] = self._errors.pop(key)
        record: dict[str, Any] = {
            "id": key,
            "name": run.name,
            "run_type": run.run_type,
            "start_time": run.start_time.isoformat(),
            "end_time": run.end_time.isoformat() if run.end_time else None,
            "parent_run_id": str(run.parent_run_id) if run.parent_run_id else None,
            "trace_id": str(run.trace_id),
            "dotted_order": run.dotted_order,
            "inputs": jsonable(run.inputs or {}),
            "outputs": outputs,
            "error": error,
            "status": status,
            "tags": list(run.tags or []),
            "extra": {"metadata": metadata},
        }
        usage = _usage(run.outputs) if run.run_type == "llm" else None
        if usage:
            record["prompt_tokens"] = usage.get("input_tokens", 0)
            record["completion_tokens"] = usage.get("output_tokens", 0)
            record["total_tokens"] = usage.get("total_tokens", 0)
            metadata["usage_metadata"] = usage
        return record

    def _persist_run(self, run: Run) -> None:
        """A root run (one graph invocation) ended: keep its whole tree."""
        batch = [self._as_dict(item) for item in _walk(run)]
        paused = [
            i for r in batch if r["status"] == "interrupted" for i in r["outputs"][INTERRUPT_KEY]
        ]
        if paused and batch:
            batch[0]["outputs"] = {**(batch[0]["outputs"] or {}), INTERRUPT_KEY: paused}
        batch.sort(key=lambda item: str(item["dotted_order"]))
        self.runs.extend(batch)
        self.trace_finished(batch)

    def trace_finished(self, runs: list[dict[str, Any]]) -> None:
        """Called with each finished invocation's runs; subclasses write them somewhere."""

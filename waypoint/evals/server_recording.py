"""The server's switch: with `WAYPOINT_RECORD_DIR` set, every graph run is recorded as a trace.

Imported by `waypoint/__init__.py` only when the variable is set, so a LangGraph server (or any
process) that loads a Waypoint graph records each thread to `<dir>/<thread_id>.jsonl`: a header
when the file is new, then the runs of each invocation as it ends, redacted like any trace. A
server owns its checkpointer, so these traces carry no checkpoint ids (`waypoint record` adds
them). Only root runs of graphs listed in langgraph.json are written, by a background thread
(a server's event loop never waits on the file).
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_core.tracers.context import register_configure_hook

from waypoint.capability_hooks import set_default_hook
from waypoint.evals.model_calls import TracedCalls
from waypoint.evals.provenance import git_revision
from waypoint.evals.redaction import Redactor
from waypoint.evals.trace_format import (
    TraceHeader,
    dump_line,
    header_line,
    order_key,
    providers_of,
    sealed_lines,
)
from waypoint.evals.tracer import TraceRecorder
from waypoint.private_files import open_private_append

RECORD_DIR_ENV = "WAYPOINT_RECORD_DIR"
"""Directory the process writes one trace file per thread to."""


def trace_path(directory: Path, thread_id: str) -> Path:
    """The trace file of a thread (unsafe characters in the id become `_`)."""
    return directory / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', thread_id)}.jsonl"


class EnvTraceRecorder(TraceRecorder):
    """A recorder LangChain creates for each root run while `WAYPOINT_RECORD_DIR` is set."""

    def __init__(self) -> None:
        """Write under `WAYPOINT_RECORD_DIR`."""
        super().__init__()
        self.directory = Path(os.environ.get(RECORD_DIR_ENV) or ".waypoint/traces")

    def trace_finished(self, runs: list[dict[str, Any]]) -> None:
        """Hand the runs to the writer thread (a server's event loop must not block on files)."""
        _writer.submit(self.write, runs)

    def write(self, runs: list[dict[str, Any]]) -> None:
        """Append this invocation's runs to its thread's trace file."""
        from waypoint.workflows import load_workflow, workflow_names

        root = runs[0]
        if root.get("parent_run_id") or root["name"] not in workflow_names():
            return
        workflow = load_workflow(root["name"])
        thread = str(root["extra"]["metadata"].get("thread_id") or root["trace_id"])
        path = trace_path(self.directory, thread)
        new_file = not path.exists()
        header = TraceHeader(
            graph=workflow.name,
            git_revision=git_revision(),
            providers=providers_of(runs),
            thread_id=thread,
            recorded_at=datetime.now(UTC).isoformat(),
            input=root["inputs"] if new_file and isinstance(root["inputs"], dict) else None,
        )
        redactor = Redactor.for_models([workflow.state_schema, workflow.input_schema])
        header, clean = redactor(header, sorted(runs, key=order_key))
        lines = [header_line(header)] if new_file else []
        lines.extend(dump_line(run) for run in clean)
        lines = sealed_lines(lines)  # encrypted when a key is set
        # 0600 when new (in a 0700 folder), whatever the server's umask
        with os.fdopen(open_private_append(path), "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")


_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="waypoint-trace-writer")
"""One writer thread: files are appended in the order invocations end; joined at exit."""

_never_set: ContextVar[EnvTraceRecorder | None] = ContextVar("waypoint_env_recorder", default=None)
register_configure_hook(_never_set, True, EnvTraceRecorder, RECORD_DIR_ENV)
set_default_hook(TracedCalls())

"""The trace file: a header line, then one LangSmith-shaped run per line (JSONL).

Each run has the fields of `langsmith.schemas.Run` (id, name, run_type, inputs, outputs, error,
start_time, end_time, parent_run_id, trace_id, dotted_order, extra.metadata, token counts), so
`Run(**line)` loads it. A LangSmith export of runs (JSONL or a JSON list, no header) is read as
is: the header is then inferred from the runs.

With an encryption key set (`waypoint.encryption`), each line is written sealed, as
`{"waypoint_sealed": "aesgcm-<key id>", "data": "<base64>"}` (AES-GCM; appended files stay
line by line), and read back with the same keys; plain lines, such as the shipped traces, are
read as they are.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from langsmith.schemas import Run
from pydantic import BaseModel, ConfigDict, Field

from waypoint.encryption import EncryptionKeyError, KeyRing, key_ring, no_key_error
from waypoint.errors import BadInput
from waypoint.private_files import private_dir

TRACE_SCHEMA = "waypoint.trace/1"
"""Version of the trace file format; stored in every header."""

SEALED = "waypoint_sealed"
"""Key of an encrypted line: its value names the cipher and key, `data` holds the line."""


class TraceHeader(BaseModel):
    """First line of a trace file: what was run, with what, and where it ended."""

    model_config = ConfigDict(extra="allow")

    trace_schema: str = Field(default=TRACE_SCHEMA, description="Trace file format version.")
    graph: str = Field(description="Graph name from langgraph.json (the root run's name).")
    git_revision: str | None = Field(default=None, description="Commit the code was at.")
    providers: dict[str, str] = Field(
        default_factory=dict, description="Provider that served each capability called."
    )
    thread_id: str | None = Field(default=None, description="LangGraph thread of the run.")
    recorded_at: str | None = Field(default=None, description="UTC time the file was written.")
    input: dict[str, Any] | None = Field(default=None, description="The run's input (redacted).")
    context: dict[str, Any] = Field(default_factory=dict, description="Run context given.")
    answers: list[dict[str, Any]] = Field(
        default_factory=list, description="Human answers applied, in order, when the run waited."
    )
    status: str | None = Field(default=None, description="completed, failed, waiting, halted.")
    thread_steps: list[list[str]] | None = Field(
        default=None,
        description="agentevals' LangGraph thread trajectory (steps per invocation), read "
        "from the checkpoints after recording.",
    )
    source: Literal["waypoint", "langsmith"] = Field(
        default="waypoint", description="`langsmith` when read from an export with no header."
    )


@dataclass
class TraceFile:
    """A header and its runs (plain dicts in LangSmith's run shape), in execution order."""

    header: TraceHeader
    runs: list[dict[str, Any]]

    def load_runs(self) -> list[Run]:
        """The runs as `langsmith.schemas.Run` objects."""
        return [Run(**run) for run in self.runs]


def dump_line(value: Any) -> str:
    """One JSONL line."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def header_line(header: TraceHeader) -> str:
    """The header as its JSONL line."""
    return dump_line(header.model_dump(mode="json", exclude_none=True))


def providers_of(runs: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Provider that served each capability, from the traced capability calls."""
    found: dict[str, str] = {}
    for run in runs:
        metadata = (run.get("extra") or {}).get("metadata") or {}
        if "waypoint_capability" in metadata:
            found[str(metadata["waypoint_capability"])] = str(
                metadata.get("waypoint_provider", "?")
            )
    return found


def sealed_lines(lines: list[str]) -> list[str]:
    """The lines encrypted one by one when a key is set (`waypoint.encryption`), else as given.

    Raises:
        BadInput: the key configuration is invalid.
    """
    ring = key_ring()
    if ring is None:
        return lines
    sealed = (ring.encrypt(line.encode()) for line in lines)
    return [
        dump_line({SEALED: name, "data": base64.b64encode(data).decode()}) for name, data in sealed
    ]


def _unsealed(item: dict[str, Any], ring: KeyRing | None, *, name: str) -> Any:
    """The line a sealed line holds, parsed."""
    try:
        if ring is None:
            raise no_key_error(str(item[SEALED]))
        data = base64.b64decode(str(item.get("data", "")), validate=True)
        return json.loads(ring.decrypt(str(item[SEALED]), data))
    except EncryptionKeyError as exc:
        raise EncryptionKeyError(f"trace {name}: {exc}") from exc
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"trace {name}: a sealed line is damaged ({exc})", field="trace") from exc


def write_trace(path: Path, header: TraceHeader, runs: Iterable[dict[str, Any]]) -> Path:
    """Write the trace file atomically (a reader never sees half a file), readable by its owner.

    The file is 0600 (`mkstemp`'s mode, kept through the rename), whatever the umask; a folder
    made for it is 0700. A trace holds a customer's words even with sensitive fields redacted,
    so with a key set its lines are encrypted (`sealed_lines`).
    """
    private_dir(path.parent)
    lines = [header_line(header)]
    lines.extend(dump_line(run) for run in runs)
    lines = sealed_lines(lines)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):  # no half-written temporary file is left behind
            os.unlink(tmp)
        raise
    return path


def order_key(run: dict[str, Any]) -> str:
    """Sort key that puts runs in execution order (LangSmith's dotted order)."""
    return str(run.get("dotted_order") or run.get("start_time") or "")


def _inferred_header(runs: list[dict[str, Any]]) -> TraceHeader:
    roots = [run for run in runs if not run.get("parent_run_id")]
    first = roots[0] if roots else (runs[0] if runs else {})
    metadata = (first.get("extra") or {}).get("metadata") or {}
    providers = providers_of(runs)
    inputs = first.get("inputs")
    return TraceHeader(
        graph=str(first.get("name", "unknown")),
        thread_id=metadata.get("thread_id"),
        providers=providers,
        input=inputs if isinstance(inputs, dict) else None,
        source="langsmith",
    )


def _normalise(run: dict[str, Any]) -> dict[str, Any]:
    """Fill what a LangSmith export may leave out so every run loads the same way."""
    if not run.get("trace_id"):
        run["trace_id"] = run.get("id")
    if run.get("extra") is None:
        run["extra"] = {}
    run["extra"].setdefault("metadata", {})
    return run


def parse_trace(text: str, *, name: str = "trace") -> TraceFile:
    """Parse a trace: Waypoint JSONL, LangSmith JSONL, or a JSON list / `{"runs": [...]}`.

    Raises:
        BadInput: not JSON, or no runs.
        EncryptionKeyError: sealed lines, and no key or not the key that sealed them.
    """
    header: TraceHeader | None = None
    ring: KeyRing | None = None
    runs: list[dict[str, Any]] = []
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            runs = list(json.loads(stripped))
        elif stripped.startswith("{") and "\n{" not in stripped.rstrip():
            loaded = json.loads(stripped)
            runs = list(loaded.get("runs", [loaded]))
            if "header" in loaded:
                header = TraceHeader.model_validate(loaded["header"])
        else:
            for number, line in enumerate(stripped.splitlines(), start=1):
                if not line.strip():
                    continue
                item = json.loads(line)
                if isinstance(item, dict) and SEALED in item:
                    ring = ring or key_ring()
                    item = _unsealed(item, ring, name=name)
                if number == 1 and "trace_schema" in item:
                    header = TraceHeader.model_validate(item)
                else:
                    runs.append(item)
    except (json.JSONDecodeError, AttributeError, TypeError) as exc:
        raise BadInput(f"trace {name}: not a trace file ({exc})", field="trace") from exc
    if not runs:
        raise BadInput(f"trace {name}: holds no runs", field="trace")
    runs = sorted((_normalise(run) for run in runs), key=order_key)
    return TraceFile(header=header or _inferred_header(runs), runs=runs)


def read_trace(path: Path) -> TraceFile:
    """Read a trace file from disk.

    Raises:
        BadInput: missing, unreadable or not a trace.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"trace {path}: cannot read it ({exc})", field="trace") from exc
    return parse_trace(text, name=str(path))

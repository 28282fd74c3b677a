"""What a caller may send into a thread: never past the workflow's protected fields or gates.

A workflow marks the state fields only its own nodes may write (decisions, verdicts, human
answers, effects, halts) with `Field(json_schema_extra={"protected": True})`. A client's
`Command(update=...)`, `update_state` (a server's `POST /threads/{id}/state`, `waypoint fork
--update`) may not write them, and a client's `Command(goto=...)` may not send a thread to a
node: that would skip the gates and humans before it. Kit code that must write them (a state
migration, an audited override) does so inside `trusted()`.

The checks run where every entry passes (`waypoint.guarded_graph.GuardedGraph`) and, for the
servers, again when a request arrives (`waypoint.server.run_requests`), so a refused request
is a 4xx that never touches the thread.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from langgraph.types import Command
from pydantic import BaseModel

from waypoint.errors import BadInput, PolicyRefused

_trusted: ContextVar[bool] = ContextVar("waypoint_trusted_write", default=False)


@contextmanager
def trusted() -> Iterator[None]:
    """Let kit code in this block write protected fields (a migration, a recorded override)."""
    token = _trusted.set(True)
    try:
        yield
    finally:
        _trusted.reset(token)


def is_trusted() -> bool:
    """Whether the current code runs inside `trusted()`."""
    return _trusted.get()


@functools.cache
def protected_fields(state_schema: Any) -> frozenset[str]:
    """The top-level state fields marked `{"protected": True}` (none on a non-pydantic state)."""
    if not (isinstance(state_schema, type) and issubclass(state_schema, BaseModel)):
        return frozenset()
    return frozenset(
        name
        for name, info in state_schema.model_fields.items()
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("protected")
    )


def updated_fields(values: Any, *, what: str) -> list[str]:
    """The field names an update writes.

    Raises:
        BadInput: the update is not an object of fields.
    """
    if values is None:
        return []
    if isinstance(values, BaseModel):
        return sorted(values.model_fields_set)
    if isinstance(values, Mapping):
        return [str(key) for key in values]
    if isinstance(values, list | tuple) and all(
        isinstance(pair, list | tuple) and len(pair) == 2 for pair in values
    ):
        return [str(pair[0]) for pair in values]
    raise BadInput(f"{what}: expected an object of state fields", field=what)


def check_update(values: Any, protected: frozenset[str], *, what: str = "update") -> None:
    """Refuse an update that writes a protected field.

    Raises:
        PolicyRefused: naming every protected field it writes.
        BadInput: the update is not an object of fields.
    """
    if is_trusted():
        return
    written = [name for name in updated_fields(values, what=what) if name in protected]
    if written:
        raise PolicyRefused(
            f"{what}.{written[0]}: protected: only the workflow's own nodes write "
            f"{', '.join(written)} (decisions, verdicts, human answers, effects); a caller may "
            "not. An operator can change it with `waypoint fork ... --override --reason TEXT`, "
            "which is recorded",
            field=f"{what}.{written[0]}",
        )


def check_command(command: Command[Any] | Mapping[str, Any], protected: frozenset[str]) -> None:
    """Refuse a command that jumps to a node, addresses a parent graph or writes protected fields.

    Raises:
        PolicyRefused: a `goto`, a `graph`, or an update of a protected field.
        BadInput: a command with nothing in it, or an update that is not an object.
    """
    if is_trusted():
        return
    if isinstance(command, Command):
        goto, graph, update = command.goto, command.graph, command.update
        resume_given = command.resume is not None
    else:
        goto, graph, update = command.get("goto"), command.get("graph"), command.get("update")
        resume_given = "resume" in command
        unknown = sorted(set(command) - {"goto", "graph", "update", "resume"})
        if unknown:
            raise BadInput(
                f"command.{unknown[0]}: unknown; a command holds resume, update or goto",
                field=f"command.{unknown[0]}",
            )
    if graph is not None:
        raise PolicyRefused(
            "command.graph: a caller may not address another graph", field="command.graph"
        )
    if goto:
        raise PolicyRefused(
            f"command.goto: a caller may not send a thread to a node ({goto!r}): that skips the "
            "gates and humans before it; answer the pending question instead",
            field="command.goto",
        )
    if update is None and not resume_given:
        raise BadInput(
            "command: expected resume (an answer to the pending question) or update",
            field="command",
        )
    check_update(update, protected, what="command.update")

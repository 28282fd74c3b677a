"""State schema versions: migrate a thread written by older code, or say which step is missing.

Each workflow's state has a `schema_version` field whose default is the version the code writes.
A thread whose checkpoint carries an older version is brought up to date, one registered step at
a time, through `graph.aupdate_state` (a new checkpoint; the old ones stay for time travel).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from waypoint.admission import trusted
from waypoint.errors import SchemaMigrationMissing

StateMigration = Callable[[dict[str, Any]], dict[str, Any]]
"""Takes the thread's values at version N, returns the fields to update for version N + 1."""

_MIGRATIONS: dict[tuple[str, int], StateMigration] = {}


def register_state_migration(graph: str, from_version: int, migrate: StateMigration) -> None:
    """Register the step `from_version` → `from_version + 1` for a graph's state."""
    _MIGRATIONS[(graph, from_version)] = migrate


def current_version(state_schema: Any) -> int:
    """The version this code writes: the default of the state's `schema_version` field."""
    fields = getattr(state_schema, "model_fields", {})  # none on a plain graph's TypedDict
    field = fields.get("schema_version")
    return int(field.default) if field is not None else 0


def missing_steps(graph: str, found: int, current: int) -> list[int]:
    """Versions from which no registered step leads on."""
    return [v for v in range(found, current) if (graph, v) not in _MIGRATIONS]


async def bring_up_to_date(
    graph_name: str,
    graph: CompiledStateGraph[Any, Any, Any, Any],
    config: RunnableConfig,
    state_schema: Any,
) -> int:
    """Migrate the thread's latest state to the current version; return how many steps ran.

    Raises:
        SchemaMigrationMissing: a step is not registered, or the thread is from newer code.
    """
    snapshot = await graph.aget_state(config)
    values = dict(snapshot.values) if snapshot.values else {}
    if not values:
        return 0
    current = current_version(state_schema)
    # No version yet means no node has stamped it: the thread holds only its input.
    found = int(values.get("schema_version", current))
    thread = config.get("configurable", {}).get("thread_id")
    if found > current:
        raise SchemaMigrationMissing(
            f"thread {thread} was written with {graph_name} state v{found}, newer than this "
            f"code's v{current}; run it with the newer code"
        )
    missing = missing_steps(graph_name, found, current)
    if missing:
        steps = ", ".join(f"v{v}→v{v + 1}" for v in missing)
        raise SchemaMigrationMissing(
            f"thread {thread} was written with {graph_name} state v{found}; this code expects "
            f"v{current} and has no migration for {steps}. Register it with "
            f"waypoint.state_versions.register_state_migration({graph_name!r}, {missing[0]}, fn)"
        )
    changed: dict[str, Any] = {}
    for version in range(found, current):
        update = dict(_MIGRATIONS[(graph_name, version)](dict(values)))
        update["schema_version"] = version + 1
        values.update(update)
        changed.update(update)
    if changed:
        with trusted():  # a migration rewrites protected fields by design
            await graph.aupdate_state(config, changed)
    return current - found

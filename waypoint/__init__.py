"""Waypoint: the orchestration layer under the workflows in `state/`, `nodes/` and `graphs/`.

This module is the public API: workflow code imports from `waypoint` only (a test checks it),
and everything else in the package may change. Names load on first use, so importing the
package stays cheap (the command line's `--help` does not pay for LangGraph).

State and context (`waypoint.contract`):
    `WorkflowState`, `WorkflowContext` (extend them), `GateVerdict`, `Failure`, `Halt`,
    `ThreadSummary`, `Budgets`; field markers `PROTECTED`, `SENSITIVE`, and the policy markers
    `AT_MOST`, `AT_LEAST`, `SUBSET`.
Nodes:
    `update(**fields)` (a node's return value), `ask_human` / `build_request` /
    `HumanDecision` (HITL), `acting_user(config)`, `user_namespace(user, ...)` (a user's
    own LangGraph Store namespace), `BadInput` (refuse an answer).
Failure paths:
    `Ladder`, `Escalation`, `add_node`, `set_default_ladder`, `DEFAULT_LADDER`, `retry_on`.
Capabilities:
    `Capability` (typed: `await CAP.call(request, model=...)`), `OfflineProvider`, `registry`.
Side effects:
    `perform_once`, `effect_key`, `EffectRefused`, `effects_metadata` / `EFFECTS_KEY` (declare
    a node's effects: `add_node(..., effects=(...))`), `run_database`, `Executor`, `Migration`,
    `register_tables`; on other systems, through the outbox: `call_once`, `Compensation`,
    `Delivery`, `DeliveryPending`, `enqueue_call`, `provider_configured`, `compensate_run`,
    `on_compensated` / `CompensatedEffect` (what undoing an effect puts back locally).
Serving and running:
    `serve(graph)`, `start_run`, `resume_thread`, `thread_status`, `open_stores`,
    `register_state_migration`.

```python
from waypoint import WorkflowState, PROTECTED, GateVerdict, update

class ReviewState(WorkflowState):
    draft: str
    verdicts: list[GateVerdict] = Field(default_factory=list, json_schema_extra=PROTECTED)
```
"""

from __future__ import annotations

import importlib
import os as _os
from typing import TYPE_CHECKING, Any

# LangGraph reads this once, when it is first imported, for the serializers it builds itself
# (a server's; `python -m waypoint` and `waypoint` import this package before LangGraph). The
# savers Waypoint opens are strict whatever it says (`waypoint.persistence.at_rest`).
_os.environ.setdefault("LANGGRAPH_STRICT_MSGPACK", "true")

if _os.environ.get("WAYPOINT_RECORD_DIR", "").lower() not in ("", "0", "false"):
    # Record every graph run of this process as a trace (see waypoint/evals/server_recording.py).
    import waypoint.evals.server_recording  # noqa: F401

_PUBLIC: dict[str, tuple[str, str]] = {
    # state and context
    "WorkflowState": ("waypoint.contract", "WorkflowState"),
    "WorkflowContext": ("waypoint.contract", "WorkflowContext"),
    "GateVerdict": ("waypoint.contract", "GateVerdict"),
    "Failure": ("waypoint.contract", "Failure"),
    "ThreadSummary": ("waypoint.contract", "ThreadSummary"),
    "Status": ("waypoint.contract", "Status"),
    "PROTECTED": ("waypoint.contract", "PROTECTED"),
    "SENSITIVE": ("waypoint.contract", "SENSITIVE"),
    "Halt": ("waypoint.guards", "Halt"),
    "effects_metadata": ("waypoint.effect_plan", "effects_metadata"),
    "EFFECTS_KEY": ("waypoint.effect_plan", "EFFECTS_KEY"),
    "Budgets": ("waypoint.guards", "Budgets"),
    "AT_MOST": ("waypoint.policy", "AT_MOST"),
    "AT_LEAST": ("waypoint.policy", "AT_LEAST"),
    "SUBSET": ("waypoint.policy", "SUBSET"),
    # nodes
    "update": ("waypoint.state_updates", "update"),
    "ask_human": ("waypoint.hitl", "ask_human"),
    "build_request": ("waypoint.hitl", "build_request"),
    "HumanDecision": ("waypoint.hitl", "HumanDecision"),
    "acting_user": ("waypoint.actors", "acting_user"),
    "user_namespace": ("waypoint.actors", "user_namespace"),
    "without_nul": ("waypoint.persistence.store_values", "without_nul"),
    "BadInput": ("waypoint.errors", "BadInput"),
    # failure paths
    "Ladder": ("waypoint.ladder", "Ladder"),
    "Escalation": ("waypoint.ladder", "Escalation"),
    "add_node": ("waypoint.ladder", "add_node"),
    "set_default_ladder": ("waypoint.ladder", "set_default_ladder"),
    "DEFAULT_LADDER": ("waypoint.ladder", "DEFAULT_LADDER"),
    "retry_on": ("waypoint.ladder", "retry_on"),
    # capabilities
    "Capability": ("waypoint.capabilities", "Capability"),
    "OfflineProvider": ("waypoint.capabilities", "OfflineProvider"),
    "registry": ("waypoint.capabilities", "registry"),
    # side effects and their tables
    "perform_once": ("waypoint.persistence.side_effects", "perform_once"),
    "effect_key": ("waypoint.persistence.side_effects", "effect_key"),
    "EffectRefused": ("waypoint.persistence.side_effects", "EffectRefused"),
    "run_database": ("waypoint.persistence.stores", "database_for_run"),
    "Executor": ("waypoint.persistence.sql", "Executor"),
    "Migration": ("waypoint.persistence.migrations", "Migration"),
    "register_tables": ("waypoint.persistence.migrations", "register"),
    "call_once": ("waypoint.outbox", "call_once"),
    "Compensation": ("waypoint.outbox", "Compensation"),
    "Delivery": ("waypoint.outbox", "Delivery"),
    "DeliveryPending": ("waypoint.outbox", "DeliveryPending"),
    "enqueue_call": ("waypoint.outbox", "enqueue_call"),
    "compensate_run": ("waypoint.outbox", "compensate_run"),
    "on_compensated": ("waypoint.outbox", "on_compensated"),
    "CompensatedEffect": ("waypoint.outbox", "CompensatedEffect"),
    "provider_configured": ("waypoint.outbox", "provider_configured"),
    # serving and running
    "serve": ("waypoint.served_runs", "serve"),
    "start_run": ("waypoint.runner", "start_run"),
    "resume_thread": ("waypoint.runner", "resume_thread"),
    "thread_status": ("waypoint.runner", "thread_status"),
    "open_stores": ("waypoint.persistence.stores", "open_stores"),
    "register_state_migration": ("waypoint.state_versions", "register_state_migration"),
}

__all__ = [
    "AT_LEAST",
    "AT_MOST",
    "DEFAULT_LADDER",
    "EFFECTS_KEY",
    "PROTECTED",
    "SENSITIVE",
    "SUBSET",
    "BadInput",
    "Budgets",
    "Capability",
    "CompensatedEffect",
    "Compensation",
    "Delivery",
    "DeliveryPending",
    "EffectRefused",
    "Escalation",
    "Executor",
    "Failure",
    "GateVerdict",
    "Halt",
    "HumanDecision",
    "Ladder",
    "Migration",
    "OfflineProvider",
    "Status",
    "ThreadSummary",
    "WorkflowContext",
    "WorkflowState",
    "acting_user",
    "add_node",
    "ask_human",
    "build_request",
    "call_once",
    "compensate_run",
    "effect_key",
    "effects_metadata",
    "enqueue_call",
    "on_compensated",
    "open_stores",
    "perform_once",
    "provider_configured",
    "register_state_migration",
    "register_tables",
    "registry",
    "resume_thread",
    "retry_on",
    "run_database",
    "serve",
    "set_default_ladder",
    "start_run",
    "thread_status",
    "update",
    "user_namespace",
    "without_nul",
]

if TYPE_CHECKING:
    from waypoint.actors import acting_user, user_namespace
    from waypoint.capabilities import Capability, OfflineProvider, registry
    from waypoint.contract import (
        PROTECTED,
        SENSITIVE,
        Failure,
        GateVerdict,
        Status,
        ThreadSummary,
        WorkflowContext,
        WorkflowState,
    )
    from waypoint.effect_plan import EFFECTS_KEY, effects_metadata
    from waypoint.errors import BadInput
    from waypoint.guards import Budgets, Halt
    from waypoint.hitl import HumanDecision, ask_human, build_request
    from waypoint.ladder import (
        DEFAULT_LADDER,
        Escalation,
        Ladder,
        add_node,
        retry_on,
        set_default_ladder,
    )
    from waypoint.outbox import (
        CompensatedEffect,
        Compensation,
        Delivery,
        DeliveryPending,
        call_once,
        compensate_run,
        enqueue_call,
        on_compensated,
        provider_configured,
    )
    from waypoint.persistence.migrations import Migration
    from waypoint.persistence.migrations import register as register_tables
    from waypoint.persistence.side_effects import EffectRefused, effect_key, perform_once
    from waypoint.persistence.sql import Executor
    from waypoint.persistence.store_values import without_nul
    from waypoint.persistence.stores import database_for_run as run_database
    from waypoint.persistence.stores import open_stores
    from waypoint.policy import AT_LEAST, AT_MOST, SUBSET
    from waypoint.runner import resume_thread, start_run, thread_status
    from waypoint.served_runs import serve
    from waypoint.state_updates import update
    from waypoint.state_versions import register_state_migration


def __getattr__(name: str) -> Any:
    """Load a public name on first use."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'waypoint' has no attribute {name!r}")
    module, attribute = _PUBLIC[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])

"""Guards: per-run budgets, loop detection and the side-effect allowlist.

A `RunGuard` lives for one command (one `ainvoke`). The ledger callback asks it before each node
starts; a breach raises `GuardHalt`, which the graph's error handler turns into a `halt` in the
state and an end of the run, so the final checkpoint carries the reason (exit code 4). Model
calls report their tokens and cost here through `current_guard()`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from waypoint.policy import AT_MOST, SUBSET
from waypoint.pricing import WorstCase

HaltKind = Literal["budget", "loop", "kill", "side_effect", "aborted", "failure"]


class Budgets(BaseModel):
    """Limits for one run; `None` means unlimited. Studio shows these descriptions.

    Each is policy: the workflow's configured budgets are the most a run may use.
    """

    model_config = ConfigDict(extra="forbid")

    steps: int | None = Field(
        default=None, ge=1, description="Node invocations per run.", json_schema_extra=AT_MOST
    )
    model_calls: int | None = Field(
        default=None, ge=0, description="Capability calls per run.", json_schema_extra=AT_MOST
    )
    tokens: int | None = Field(
        default=None, ge=0, description="Model tokens per run.", json_schema_extra=AT_MOST
    )
    cost_usd: Decimal | None = Field(
        default=None, ge=0, description="Model spend per run.", json_schema_extra=AT_MOST
    )
    wall_seconds: float | None = Field(
        default=None, gt=0, description="Wall time per run.", json_schema_extra=AT_MOST
    )
    node_visits: int | None = Field(
        default=None,
        ge=1,
        description="Times one node may run in one run (revise loops).",
        json_schema_extra=AT_MOST,
    )
    side_effects: list[str] | None = Field(
        default=None,
        description="Side-effect kinds allowed (e.g. support.payment); None: all.",
        json_schema_extra=SUBSET,
    )


class Halt(BaseModel):
    """Why a run was stopped before its next node."""

    kind: HaltKind
    reason: str
    node: str = Field(description="The node that was about to run (or ran the side effect).")
    by: str | None = Field(default=None, description="Who asked (for a kill).")


class GuardHalt(RuntimeError):
    """A guard stopped the run. A `RuntimeError`, so LangGraph's retry policy never retries it."""

    def __init__(self, halt: Halt) -> None:
        """Carry the typed halt to the error handler."""
        super().__init__(f"{halt.kind}: {halt.reason}")
        self.halt = halt


def first_stop(current: Any, new: Any) -> Any:
    """Reducer of `halt` and `failure`: the first reason a run stopped wins.

    Several tasks of one step (a `Send` fan-out, parallel branches) can each be halted or fail;
    LangGraph gives a plain channel one value per step, so these channels keep the first. A
    `None` written on purpose clears the channel.
    """
    return new if current is None or new is None else current


_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def _json_default(value: Any) -> Any:
    """A value JSON cannot hold as is: a pydantic model as its JSON data, else its text.

    A node's output often holds messages: `str()` of an `AIMessage` with tool calls costs ≈1 ms
    (its repr), `model_dump` ≈10 µs, and the digest then rests on the message's fields.
    """
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return str(value)


def _canonical_bytes(value: Any) -> bytes:
    try:
        return orjson.dumps(value, default=_json_default, option=_CANONICAL)
    except orjson.JSONEncodeError:  # e.g. an integer past 64 bits: the standard library copes
        text = json.dumps(value, sort_keys=True, default=_json_default, separators=(",", ":"))
        return text.encode()


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys: equal values give equal text."""
    return _canonical_bytes(value).decode()


def digest_of(text: str) -> str:
    """A short stable digest of a text."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint(value: Any) -> str:
    """A stable digest of a JSON-ready value (state fingerprints, ledger digests)."""
    return hashlib.sha256(_canonical_bytes(value)).hexdigest()[:16]


@dataclass
class RunGuard:
    """Counters and checks for one run."""

    budgets: Budgets
    started: float = field(default_factory=time.monotonic)
    steps: int = 0
    model_calls: int = 0
    tokens: int = 0
    cost_usd: Decimal = Decimal("0")
    visits: Counter[str] = field(default_factory=Counter)
    seen: dict[tuple[str, str], str] = field(default_factory=dict)
    """The super-step where each (node, input fingerprint) was first seen."""

    def before_node(
        self, node: str, state_fingerprint: str, superstep: str | None = None
    ) -> Halt | None:
        """Check every budget and the loop rule before `node` runs; count it if it may.

        Each task is checked and counted: every `Send` task, branch and subgraph node.
        `superstep` names the step the task belongs to (its graph's namespace and step): tasks
        of one step with the same input (a fan-out of equal items) are not a loop; the same
        node reached again with the same input in a later step is (without `superstep`, any
        second time is).
        """
        b = self.budgets
        first_seen = self.seen.get((node, state_fingerprint))
        breach: tuple[HaltKind, str] | None = None
        if b.steps is not None and self.steps >= b.steps:
            breach = ("budget", f"step budget {b.steps} used up")
        elif b.model_calls is not None and self.model_calls > b.model_calls:
            breach = ("budget", f"model-call budget {b.model_calls} exceeded ({self.model_calls})")
        elif b.tokens is not None and self.tokens > b.tokens:
            breach = ("budget", f"token budget {b.tokens} exceeded ({self.tokens})")
        elif b.cost_usd is not None and self.cost_usd > b.cost_usd:
            breach = ("budget", f"cost budget {b.cost_usd} USD exceeded ({self.cost_usd})")
        elif b.wall_seconds is not None and time.monotonic() - self.started > b.wall_seconds:
            breach = ("budget", f"wall-time budget {b.wall_seconds}s exceeded")
        elif b.node_visits is not None and self.visits[node] >= b.node_visits:
            breach = ("loop", f"{node} reached {b.node_visits} times in one run")
        elif first_seen is not None and (superstep is None or first_seen != superstep):
            breach = ("loop", f"{node} reached again with the same state ({state_fingerprint})")
        if breach is not None:
            return Halt(kind=breach[0], reason=breach[1], node=node)
        self.steps += 1
        self.visits[node] += 1
        self.seen.setdefault((node, state_fingerprint), superstep or "")
        return None

    def before_model_call(self, node: str, worst: WorstCase) -> Halt | None:
        """Refuse a model call whose worst case would cross the run's token or cost budget.

        A model without a known price is refused when the run has a cost budget: the budget
        could not be kept.
        """
        b = self.budgets
        reason: str | None = None
        if b.tokens is not None and self.tokens + worst.tokens > b.tokens:
            reason = (
                f"token budget {b.tokens}: {self.tokens} used and a call to {worst.model} may "
                f"use up to {worst.tokens} more"
            )
        elif b.cost_usd is not None and worst.cost_usd is None:
            reason = (
                f"cost budget {b.cost_usd} USD: no price is known for {worst.model}, so the "
                "budget could not be kept; name its price in the capability registry"
            )
        elif (
            b.cost_usd is not None
            and worst.cost_usd is not None
            and self.cost_usd + worst.cost_usd > b.cost_usd
        ):
            reason = (
                f"cost budget {b.cost_usd} USD: {self.cost_usd} spent and a call to "
                f"{worst.model} may cost up to {worst.cost_usd} more"
            )
        return None if reason is None else Halt(kind="budget", reason=reason, node=node)

    def record_model_call(self, tokens: int, cost_usd: Decimal) -> None:
        """Count a capability call and its usage."""
        self.model_calls += 1
        self.tokens += tokens
        self.cost_usd += cost_usd

    def allow_side_effect(self, kind: str, node: str) -> None:
        """Refuse a side effect that is not on the allowlist.

        Raises:
            GuardHalt: the kind is not allowed in this run.
        """
        allowed = self.budgets.side_effects
        if allowed is not None and kind not in allowed:
            raise GuardHalt(
                Halt(
                    kind="side_effect",
                    reason=f"side effect {kind} is not on this run's allowlist",
                    node=node,
                )
            )


_current_guard: ContextVar[RunGuard | None] = ContextVar("waypoint_guard", default=None)


def current_guard() -> RunGuard | None:
    """The guard of the run this code is part of, if the runner set one."""
    return _current_guard.get()


def set_guard(guard: RunGuard | None) -> Any:
    """Install a guard for the current context; returns the token to reset it."""
    return _current_guard.set(guard)


def set_guard_reset(token: Any) -> None:
    """Undo `set_guard`."""
    _current_guard.reset(token)

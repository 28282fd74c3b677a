"""The failure ladder of a node, declared beside it and built on LangGraph 1.2's own policies.

Rungs, in order: retry (`RetryPolicy`, with `retry_on` that also retries HTTP 429 and transient
provider errors; the registry waits out Retry-After before calling a rate-limited provider
again), timeout (`TimeoutPolicy`; async nodes), fallback to the next provider of the node's
capability (done by the capability registry), escalate to a human (an interrupt in the HITL
shape carrying the error: approve = retry the node, edit = skip it with a value, reject = abort),
and last, halt with the reason recorded (exit 4), fail (exit 1), or degrade: record the failure
in the state through the ladder's `degrade` function and go on (a `Send` task whose failure
must not stop its siblings, e.g. a sub-question marked unanswered). The error handler is the
node's `error_handler`; a guard's `GuardHalt` always goes straight to a halt, and a run whose
thread another writer took over (`ThreadTakenOver`) stops at once, past every rung.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from langchain_core.runnables import RunnableConfig
from langgraph.errors import NodeError
from langgraph.graph import END, StateGraph
from langgraph.types import Command, RetryPolicy, TimeoutPolicy

from waypoint.effect_plan import effects_metadata
from waypoint.errors import ThreadTakenOver
from waypoint.guards import GuardHalt, Halt, HaltKind
from waypoint.hitl import ask_human, build_request
from waypoint.provider_errors import NoProviderAvailable, ProviderUnavailable, RateLimited

_NOT_TRANSIENT = (
    ValueError,
    TypeError,
    ArithmeticError,
    ImportError,
    LookupError,
    NameError,
    SyntaxError,
    RuntimeError,
    ReferenceError,
    OSError,
)


def retry_on(exc: Exception) -> bool:
    """Whether a second attempt can fix `exc`.

    Yes for HTTP 429 and 5xx, dropped connections, timeouts, transient provider errors and
    anything not a programming error (LangGraph's own rule, which leaves 429 out). Never for a
    guard's halt, for "no provider may be called" (breakers open), nor for a run whose thread
    another writer took over.
    """
    if isinstance(exc, GuardHalt | NoProviderAvailable | ThreadTakenOver):
        return False
    if isinstance(exc, RateLimited | ProviderUnavailable | ConnectionError):
        return True
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int):
        return status == 429 or 500 <= status < 600
    return not isinstance(exc, _NOT_TRANSIENT)


@dataclass(frozen=True)
class Escalation:
    """How a human may recover the node: retry it, skip it with a value, or abort the run."""

    skip_to: str | None = None
    """The node that runs next when the human skips this one (None: skipping is not offered)."""

    skip_schema: dict[str, Any] = field(default_factory=dict)
    """JSON Schema properties of what the human gives when skipping."""

    skip_update: Callable[[dict[str, Any], Any], dict[str, Any]] | None = None
    """Turns the human's values (and the state) into the state update the node would have made."""


@dataclass(frozen=True)
class Ladder:
    """A node's failure path, read at a glance in `waypoint graph G --policies`."""

    retry: RetryPolicy
    timeout: TimeoutPolicy | None = None
    fallback: str | None = None
    """The capability whose next provider takes over when one fails (None: no provider)."""

    escalate: Escalation | None = None
    last: Literal["halt", "fail", "degrade"] = "fail"
    degrade: Callable[[Any, dict[str, str]], dict[str, Any]] | None = None
    """With `last="degrade"`: the state update recording the failure (given the node's input
    and the failure's `node`, `error_type`, `message`); the run then goes on to `degrade_to`."""

    degrade_to: str = END
    """The node that runs after a degraded failure (default: the end of this graph)."""

    def __post_init__(self) -> None:
        """A degrading ladder needs its `degrade` function."""
        if (self.last == "degrade") != (self.degrade is not None):
            raise ValueError("Ladder: last='degrade' and a degrade function go together")

    def rows(self) -> dict[str, str]:
        """The rungs as text."""
        t = self.timeout
        return {
            "retry": f"{self.retry.max_attempts} attempts, backoff {self.retry.initial_interval}s"
            f" x{self.retry.backoff_factor}, 429-aware"
            if self.retry.max_attempts > 1
            else "no retry",
            "timeout": f"{t.run_timeout:g}s" if t is not None and t.run_timeout else "-",
            "fallback": f"next provider of {self.fallback}" if self.fallback else "-",
            "escalate": (
                "-"
                if self.escalate is None
                else f"human: retry / skip to {self.escalate.skip_to} / abort"
                if self.escalate.skip_to
                else "human: retry / abort"
            ),
            "last": {
                "halt": "halt (exit 4)",
                "fail": "fail (exit 1)",
                "degrade": f"record the failure, go on to {self.degrade_to}",
            }[self.last],
        }


def _failure(error: NodeError) -> dict[str, str]:
    return {
        "node": error.node,
        "error_type": type(error.error).__name__,
        "message": str(error.error)[:1000],
    }


_RESTORED_HALT = re.compile(r"^GuardHalt\((['\"])(\w+): (.*)\1\)$", re.S)


def restored_halt(error: NodeError) -> Halt | None:
    """The halt of a `GuardHalt` that LangGraph handed back as text.

    A task's error saved with its checkpoint comes back as its `repr` when the run goes on from
    that checkpoint (a run the kill watch cancelled and ran again): a kill or a budget must
    still read as one, never as the node's failure.
    """
    if not isinstance(error.error, str):
        return None
    found = _RESTORED_HALT.match(error.error)
    if found is None or found.group(2) not in get_args(HaltKind):
        return None
    kind = cast(HaltKind, found.group(2))
    return Halt(kind=kind, reason=found.group(3), node=error.node)


def ladder_handler(ladder: Ladder) -> Any:
    """The `error_handler` implementing the escalate and last rungs of `ladder`."""

    def handle(state: Any, error: NodeError, config: RunnableConfig) -> Command[Any]:
        del config
        if isinstance(error.error, ThreadTakenOver):
            raise error.error  # the run lost its thread: nothing of it may be written any more
        if isinstance(error.error, GuardHalt):
            return Command(update={"halt": error.error.halt.model_dump(mode="json")}, goto=END)
        restored = restored_halt(error)
        if restored is not None:
            return Command(update={"halt": restored.model_dump(mode="json")}, goto=END)
        failure = _failure(error)
        escalation = ladder.escalate
        if escalation is not None:
            skip = escalation.skip_to
            request = build_request(
                action="recover_node",
                args={**failure, "skip_to": skip or ""},
                description=f"{error.node} failed after its retries and fallbacks: "
                f"{failure['error_type']}: {failure['message']}. Approve to retry it, "
                + (f"edit to skip it with a value (then {skip} runs), " if skip else "")
                + "reject to abort the run.",
                allowed=["approve", "edit", "reject"] if skip else ["approve", "reject"],
                args_schema={
                    "type": "object",
                    "properties": escalation.skip_schema,
                    "required": sorted(escalation.skip_schema),
                },
            )
            decision = ask_human(request)
            if decision.type == "approve":
                return Command(goto=error.node)
            if decision.type == "edit" and skip is not None:
                values = dict(decision.edited_args or {})
                update = escalation.skip_update(values, state) if escalation.skip_update else values
                return Command(update=update, goto=skip)
            halt = Halt(
                kind="aborted",
                reason=decision.message or f"{error.node} failed and a human aborted the run",
                node=error.node,
            )
            return Command(update={"halt": halt.model_dump(mode="json")}, goto=END)
        if ladder.degrade is not None:
            return Command(update=ladder.degrade(state, failure), goto=ladder.degrade_to)
        if ladder.last == "halt":
            halt = Halt(
                kind="failure",
                reason=f"{failure['error_type']}: {failure['message']}",
                node=error.node,
            )
            return Command(update={"halt": halt.model_dump(mode="json")}, goto=END)
        return Command(update={"failure": failure}, goto=END)

    return handle


def add_node(
    builder: StateGraph[Any, Any, Any, Any],
    name: str,
    action: Any,
    ladder: Ladder | None = None,
    *,
    effects: Sequence[str] = (),
) -> None:
    """`builder.add_node` with the ladder's retry, timeout and error handler.

    Without a ladder the node gets the graph's default one (`set_default_ladder`). `effects`
    names the kinds of side effect the node performs (`waypoint.effect_plan`): `replay` and
    `fork` list them and ask for `--allow-effects` before a run may reach the node.
    """
    metadata = effects_metadata(*effects) if effects else None
    if ladder is None:
        builder.add_node(name, action, metadata=metadata)
        return
    builder.add_node(
        name,
        action,
        metadata=metadata,
        retry_policy=ladder.retry,
        timeout=ladder.timeout,
        error_handler=ladder_handler(ladder),
    )


DEFAULT_LADDER = Ladder(
    retry=RetryPolicy(max_attempts=3, initial_interval=0.2, max_interval=5.0, retry_on=retry_on),
    last="halt",
)
"""A node without a ladder of its own: three 429-aware attempts, then a halt with the reason."""


def set_default_ladder(
    builder: StateGraph[Any, Any, Any, Any], ladder: Ladder = DEFAULT_LADDER
) -> None:
    """Give every node without a ladder of its own this one (LangGraph's `set_node_defaults`).

    The retry and timeout also apply to the error handlers themselves (LangGraph's rule).
    """
    builder.set_node_defaults(
        retry_policy=ladder.retry, timeout=ladder.timeout, error_handler=ladder_handler(ladder)
    )

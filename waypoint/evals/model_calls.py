"""Capability calls in traces: traced with the hash of their prompt, and replayed from it.

`TracedCalls` is the capability hook (`waypoint.capability_hooks`) that eval recording sets: each
capability call becomes a child run of its node (`llm` when the capability has a model prompt,
`tool` otherwise) whose metadata holds the capability, the provider and `waypoint_call_key`, a
hash of the prompt (or of the request, for a capability without a prompt). Offline providers are
traced the same way as real models, so a trace recorded offline can be replayed.

With `ReplayAnswers`, model calls are answered from a recorded trace instead of a provider: the
same prompt gets the recorded answer (or the recorded failure); a prompt the trace never saw
raises `ReplayDrift`, which fails the node; nothing is invented. This is the replay provider,
a fake model provider documented as such.
"""

from __future__ import annotations

import builtins
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from langchain_core.callbacks.manager import AsyncCallbackManager
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config
from pydantic import BaseModel

from waypoint.evals.jsonable import jsonable

if TYPE_CHECKING:
    from waypoint.capabilities import CapabilityRegistry

REPLAY_PROVIDER = "replay"
"""Provider name of answers served from a trace."""


def _prompt_json(prompt: list[BaseMessage]) -> list[dict[str, Any]]:
    return [{"role": message.type, "content": jsonable(message.content)} for message in prompt]


def call_key(name: str, request: BaseModel, prompt: list[BaseMessage] | None) -> str:
    """Replay key of a call: a hash of the capability and its prompt (or its request)."""
    payload: dict[str, Any] = {"capability": name}
    if prompt is not None:
        payload["prompt"] = _prompt_json(prompt)
    else:
        payload["request"] = request.model_dump(mode="json")
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class ReplayDrift(LookupError):
    """Replay met a prompt the trace never saw; the case must be re-recorded or fixed."""

    def __init__(self, capability: str, node: str, key: str) -> None:
        """Name the capability, the node and the prompt hash that had no recorded answer."""
        super().__init__(
            f"replay drift: no recorded answer for {capability!r} at node {node!r} (prompt hash "
            f"{key}); the prompt changed since the trace was recorded. Re-record the case "
            "(`waypoint record`) if the change is intended."
        )
        self.capability = capability
        self.node = node
        self.key = key


class RecordedCallError(Exception):
    """A failure the trace recorded for this call, raised again by replay."""


def _recorded_error(kind: str, message: str) -> BaseException:
    known = getattr(builtins, kind, None)
    if isinstance(known, type) and issubclass(known, Exception):
        try:
            return known(message)
        except TypeError:
            pass
    error: BaseException = type(kind, (RecordedCallError,), {})(message)
    return error


@dataclass
class Drift:
    """Where replay met an unseen prompt."""

    node: str
    capability: str
    key: str


@dataclass
class ReplayAnswers:
    """Recorded answers of model calls, by call key, served in recorded order."""

    answers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    drifts: list[Drift] = field(default_factory=list)
    served: int = 0
    _cursor: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_runs(cls, runs: list[dict[str, Any]]) -> ReplayAnswers:
        """Index the capability runs of a trace (in execution order)."""
        answers: dict[str, list[dict[str, Any]]] = {}
        tokens: dict[str, int] = {}
        for run in runs:
            if run.get("parent_run_id") and run.get("total_tokens"):
                parent = str(run["parent_run_id"])
                tokens[parent] = tokens.get(parent, 0) + int(run["total_tokens"])
        for run in runs:
            metadata = (run.get("extra") or {}).get("metadata") or {}
            key = metadata.get("waypoint_call_key")
            if not key or metadata.get("waypoint_capability") is None:
                continue
            answer: dict[str, Any]
            if run.get("status") == "error" or run.get("error"):
                error = metadata.get("waypoint_error") or {}
                answer = {
                    "error": {
                        "type": str(error.get("type", "RecordedCallError")),
                        "message": str(error.get("message", run.get("error", ""))),
                    }
                }
            else:
                answer = {
                    "output": (run.get("outputs") or {}).get("output"),
                    "tokens": tokens.get(str(run.get("id")), 0),
                    "model": str(metadata.get("ls_model_name", REPLAY_PROVIDER)),
                }
            answers.setdefault(str(key), []).append(answer)
        return cls(answers=answers)

    def answer(self, registry: CapabilityRegistry, name: str, key: str, node: str) -> Any:
        """The recorded answer for this call (validated), or its recorded failure.

        Raises:
            ReplayDrift: the trace has no answer for this prompt.
        """
        recorded = self.answers.get(key)
        if not recorded:
            self.drifts.append(Drift(node=node, capability=name, key=key))
            raise ReplayDrift(name, node, key)
        index = self._cursor.get(key, 0)
        self._cursor[key] = index + 1
        item = recorded[min(index, len(recorded) - 1)]
        self.served += 1
        if "error" in item:
            raise _recorded_error(item["error"]["type"], item["error"]["message"])
        from waypoint.capabilities import report_call, validate_output

        result = validate_output(registry.capability(name), REPLAY_PROVIDER, item["output"])
        tokens = int(item.get("tokens", 0))
        price = registry.usd_per_1k_tokens.get(str(item.get("model")), Decimal(0))
        cost = (price * tokens / 1000).quantize(Decimal("0.000001"))
        # The run's ledger and guards count a replayed call as they counted the recorded one.
        report_call(name, REPLAY_PROVIDER, key[:12], "answer recorded in the trace", tokens, cost)
        return result


@dataclass
class TracedCalls:
    """The capability hook of eval recording (and, with `replay`, of replay)."""

    replay: ReplayAnswers | None = None
    """Answer model calls from here instead of calling a provider."""

    async def __call__(
        self,
        registry: CapabilityRegistry,
        name: str,
        request: BaseModel,
        model: str | None,
        serve: Callable[[], Awaitable[Any]],
    ) -> Any:
        """Trace the call as a child run of the current node; answer it live or from the trace."""
        prompt = registry.prompt(name, request)
        key = call_key(name, request, prompt)
        replayed = self.replay is not None and (
            prompt is not None or registry.capability(name).replayed
        )
        provider = REPLAY_PROVIDER if replayed else registry.provider_name(name, model)
        config = var_child_runnable_config.get() or {}
        node = str((config.get("metadata") or {}).get("langgraph_node", "?"))
        inputs: dict[str, Any] = {"request": request.model_dump(mode="json")}
        if prompt is not None:
            inputs["messages"] = _prompt_json(prompt)
        manager = AsyncCallbackManager.configure(
            inheritable_callbacks=config.get("callbacks"),
            inheritable_tags=config.get("tags"),
            inheritable_metadata=config.get("metadata"),
            local_metadata={
                "waypoint_capability": name,
                "waypoint_call_key": key,
                "waypoint_provider": provider,
                "ls_model_name": model or provider,
            },
        )
        run = await manager.on_chain_start(
            {"name": name}, inputs, name=name, run_type="llm" if prompt is not None else "tool"
        )
        try:
            if replayed:
                assert self.replay is not None
                result = self.replay.answer(registry, name, key, node)
            else:
                child = cast(RunnableConfig, {**config, "callbacks": run.get_child()})
                token = var_child_runnable_config.set(child)  # a chat model's run nests here
                try:
                    result = await serve()
                finally:
                    var_child_runnable_config.reset(token)
        except BaseException as exc:
            await run.on_chain_error(exc)
            raise
        await run.on_chain_end({"output": jsonable(result)})
        return result

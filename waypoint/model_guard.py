"""Chat models a node calls itself are guarded and counted like capability calls.

A node may call a chat model directly (an agent loop over `messages`, `bind_tools`, a
streaming writer) instead of through a `Capability`. The kit still sees each such call,
through LangChain's callbacks: before it, the run's token and cost budgets are checked with the
call's worst case (its prompt and the model's `max_tokens`), and a call that could cross them
is refused with a `budget` halt; after it, the tokens the model reported and their price
(`waypoint.pricing`) are counted in the run's guard and written on the node's ledger row
(capability `chat_model`, provider `provider:model`).

A model is named as LangChain's tracing metadata names it (`ls_provider`, `ls_model_name`).
An offline model says so with `ls_provider="offline"`: it costs 0. Calls a `Capability` makes
carry `CAPABILITY_TAG` and are left to the capability, which guards and counts them itself.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from waypoint.chat_models import CAPABILITY_TAG
from waypoint.guards import GuardHalt, current_guard
from waypoint.ledger import HALTING_HANDLERS, current_recorder
from waypoint.pricing import (
    DEFAULT_MAX_OUTPUT_TOKENS,
    ModelUsage,
    WorstCase,
    estimate_prompt_tokens,
    price,
    usage_of,
)

OFFLINE_PROVIDER = "offline"
"""`ls_provider` of an offline chat model: its calls cost 0."""


def model_spec(metadata: dict[str, Any]) -> str:
    """`provider:model` from LangChain's tracing metadata of a chat model call."""
    provider = str(metadata.get("ls_provider") or "unknown")
    model = str(metadata.get("ls_model_name") or "unknown")
    return f"{provider}:{model}"


def _cost(spec: str, usage: ModelUsage) -> Decimal | None:
    if spec.startswith(f"{OFFLINE_PROVIDER}:"):
        return Decimal("0")
    return price(spec, usage)


class ModelCallGuard(AsyncCallbackHandler):
    """Checks each direct chat model call against the run's budgets, then counts it."""

    run_inline = True
    raise_error = True  # a refused call must stop the node

    # Only chat model calls matter here: LangChain skips this handler for node, tool and
    # retriever events (a run dispatches several for every node).
    ignore_chain = True
    ignore_agent = True
    ignore_retriever = True
    ignore_retry = True
    ignore_custom_event = True

    def __init__(self) -> None:
        """Calls in flight: their model and the node that made them."""
        self._open: dict[UUID, tuple[str, dict[str, Any]]] = {}

    async def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Before the call: refuse it when its worst case could cross a budget."""
        meta = metadata or {}
        guard = current_guard()
        if guard is None or CAPABILITY_TAG in (tags or []) or not meta.get("langgraph_node"):
            return
        spec = model_spec(meta)
        texts = [m.text if isinstance(m.text, str) else str(m.content) for m in messages[0]]
        limit = meta.get("ls_max_tokens")
        answer = limit if isinstance(limit, int) and limit > 0 else DEFAULT_MAX_OUTPUT_TOKENS
        usage = ModelUsage(input_tokens=estimate_prompt_tokens(texts), output_tokens=answer)
        worst = WorstCase(model=spec, tokens=usage.total, cost_usd=_cost(spec, usage))
        halt = guard.before_model_call(str(meta["langgraph_node"]), worst)
        if halt is not None:
            raise GuardHalt(halt)
        self._open[run_id] = (spec, meta)

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """After the call: count its tokens and cost, on the guard and the node's ledger row."""
        opened = self._open.pop(run_id, None)
        if opened is None:
            return
        spec, meta = opened
        usage = ModelUsage()
        for generations in response.generations:
            for generation in generations:
                if isinstance(generation, ChatGeneration):
                    reported = getattr(generation.message, "usage_metadata", None)
                    found = usage_of(dict(reported) if reported else None)
                    usage = ModelUsage(
                        input_tokens=usage.input_tokens + found.input_tokens,
                        output_tokens=usage.output_tokens + found.output_tokens,
                        cached_tokens=usage.cached_tokens + found.cached_tokens,
                    )
        cost = _cost(spec, usage) or Decimal("0")
        recorder = current_recorder()
        if recorder is None:
            guard = current_guard()
            if guard is not None:
                guard.record_model_call(usage.total, cost)
            return
        recorder.on_capability_call(
            str(meta.get("langgraph_node", "?")),
            int(meta.get("langgraph_step", -1)),
            capability="chat_model",
            provider=spec,
            version=spec,
            routing_reason="called by the node itself",
            tokens=usage.total,
            cost=cost,
            task=meta.get("langgraph_checkpoint_ns"),
        )

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A failed call costs nothing that was reported."""
        self._open.pop(run_id, None)


HALTING_HANDLERS.add(ModelCallGuard.__name__)

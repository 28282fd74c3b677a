"""A fake chat model that reports usage, so a priced model name (`openai:gpt-4o`, which
genai-prices knows) costs money; `tests/kit/priced_model.py` installs it as a plugin.

Each answer: `SpendAnswer(ok=True)` as a tool call, 1,000 input and 500 output tokens
(USD 0.0075 at gpt-4o's USD 2.50 / 10.00 per million); `max_tokens` 1,000, so a call's worst
case is its prompt and 1,000 output tokens (about USD 0.010).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.tool import tool_call
from langchain_core.outputs import ChatResult

from tests.helpers import ToolCallingFakeModel

USAGE = {"input_tokens": 1000, "output_tokens": 500, "total_tokens": 1500}
COST_MICROS = 7500
"""What one answer costs at gpt-4o's price, in millionths of a USD."""


class PricedFakeModel(ToolCallingFakeModel):
    """langchain-core's fake chat model with an output limit, like a configured real model."""

    max_tokens: int = 1000
    delay: float = 0.0
    """Seconds each answer takes (a slow model call)."""

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        await asyncio.sleep(self.delay)
        return self._generate(messages, stop=stop, **kwargs)


def answer() -> AIMessage:
    """One answer with its usage."""
    call = tool_call(name="SpendAnswer", args={"ok": True}, id="call-1")
    return AIMessage(content="", tool_calls=[call], usage_metadata=USAGE)


def factory(spec: str) -> Any:
    """Every `provider:model` gets a fake that answers as `answer` does, for ever."""
    return PricedFakeModel(messages=(answer() for _ in itertools.count()))


def slow_factory(spec: str) -> Any:
    """As `factory`, each answer 10 s late."""
    return PricedFakeModel(messages=(answer() for _ in itertools.count()), delay=10.0)

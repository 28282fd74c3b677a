"""The chat model of the research tasks and of `synthesise`: a real one, or the offline one.

`OfflineResearchModel` is a deterministic offline provider, documented as such: no model, no
network. It is a LangChain `BaseChatModel`, so it goes where a real model goes: `bind_tools`,
real `AIMessage.tool_calls` run by LangGraph's `ToolNode`, and token streaming (each word is a
chunk, so `stream_mode="messages"` shows them). It reads its role from the system prompt:

- researcher (`prompts.RESEARCHER`): search the sub-question, read the best `depth` hits, then
  answer `FINDINGS` with one cited claim per passage read (the passage's first sentence), or
  `UNANSWERED: why` when the search found nothing;
- writer (`prompts.WRITER`): the brief from the JSON facts in the prompt, rewritten shorter when
  the feedback says it is too long, without claims citing passages it is told were not retrieved.

Give the run context a `model` (`provider:model`) and `chat_model` returns that chat model from
the capability registry's factory (`init_chat_model`) instead, with the same prompts and tools.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from nodes.research import brief
from nodes.research.prompts import RESEARCHER, WRITER
from waypoint import registry

_PIECES = re.compile(r"\S+\s*|\s+")
_ID_LINE = re.compile(r"^\[([^\]\s]+)\]", re.MULTILINE)


def _call_id(messages: Sequence[BaseMessage], index: int) -> str:
    seen = json.dumps([[m.type, str(m.content)] for m in messages], sort_keys=True)
    return f"call_{hashlib.sha256(seen.encode()).hexdigest()[:12]}_{index}"


def _first_sentence(text: str) -> str:
    flat = " ".join(text.split()).replace("[", "(").replace("]", ")")
    match = re.match(r"(.+?[.!?])(\s|$)", flat)
    sentence = match.group(1) if match else flat
    return sentence[:240]


def researcher_answer(messages: Sequence[BaseMessage]) -> AIMessage:
    """The offline researcher's next message: a tool call, or its findings."""
    human = next(m for m in messages if isinstance(m, HumanMessage))
    prompt = str(human.content)
    question = re.search(r"Sub-question: (.+)", prompt)
    depth = re.search(r"Read at most (\d+)", prompt)
    sub_question = question.group(1).strip() if question else prompt
    wanted = int(depth.group(1)) if depth else 2
    tools = [m for m in messages if isinstance(m, ToolMessage)]
    searches = [m for m in tools if m.name == "search_docs"]
    reads = [m for m in tools if m.name == "read_passage"]
    if not searches:
        return AIMessage(
            content="",
            tool_calls=[
                {
                    "name": "search_docs",
                    "args": {"query": sub_question},
                    "id": _call_id(messages, 0),
                }
            ],
        )
    hits = _ID_LINE.findall(str(searches[-1].content))
    if not reads and hits:
        return AIMessage(
            content="",
            tool_calls=[
                {"name": "read_passage", "args": {"passage_id": pid}, "id": _call_id(messages, i)}
                for i, pid in enumerate(hits[:wanted])
            ],
        )
    claims: list[str] = []
    for message in reads:
        text = str(message.content)
        found = _ID_LINE.match(text)
        body = text.split("\n", 1)[1] if "\n" in text else ""
        if found and body.strip():
            claims.append(f"- {_first_sentence(body)} [{found.group(1)}]")
    if not claims:
        return AIMessage(content="UNANSWERED: no passage of the corpus matched the question.")
    return AIMessage(content="FINDINGS\n" + "\n".join(claims))


def writer_answer(messages: Sequence[BaseMessage]) -> AIMessage:
    """The offline writer's brief, from the facts in its prompt."""
    human = next(m for m in messages if isinstance(m, HumanMessage))
    facts = json.loads(str(human.content).split("\n", 1)[1])
    return AIMessage(content=brief.compose_brief(facts))


class OfflineResearchModel(BaseChatModel):
    """Deterministic offline chat model (no model, no network): researcher and writer roles."""

    @property
    def _llm_type(self) -> str:
        return "waypoint-offline-research"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        """Named `offline:research` to the kit, which counts its calls and prices them at 0."""
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "offline"
        params["ls_model_name"] = "research"
        return params

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Accept the tools as a real model would (their schemas are sent, as OpenAI's)."""
        del tool_choice
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _answer(self, messages: Sequence[BaseMessage]) -> AIMessage:
        system = next((str(m.content) for m in messages if isinstance(m, SystemMessage)), "")
        if system.startswith(RESEARCHER):
            return researcher_answer(messages)
        if system.startswith(WRITER):
            return writer_answer(messages)
        raise ValueError("the offline research model serves the researcher and writer prompts")

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._answer(messages))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._generate(messages, stop, **kwargs)

    def _chunks(self, messages: list[BaseMessage]) -> Iterator[ChatGenerationChunk]:
        answer = self._answer(messages)
        for piece in _PIECES.findall(str(answer.content)):
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
        calls = [
            {"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": i}
            for i, c in enumerate(answer.tool_calls)
        ]
        yield ChatGenerationChunk(
            message=AIMessageChunk(content="", tool_call_chunks=calls, chunk_position="last")
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self._chunks(messages):
            if run_manager is not None:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._chunks(messages):
            if run_manager is not None:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk


OFFLINE_MODEL = OfflineResearchModel()
"""The one offline model (it keeps no state between calls)."""


def chat_model(model: str | None) -> BaseChatModel:
    """The run's chat model: `provider:model` through the registry's factory, else offline."""
    return registry.chat_model_factory(model) if model else OFFLINE_MODEL

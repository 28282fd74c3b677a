"""Token streaming for the command line: chat-model tokens as the run produces them.

`stream_tokens(sink)` around `start_run` / `resume_thread` makes the runner drive the graph with
LangGraph's `stream_mode="messages"` (subgraphs included) instead of `ainvoke`, and hands each
model token to `sink(node, text)` as it comes. Any chat model that streams (the offline research
model does; real ones do) shows up; a node whose model does not stream shows its whole message
at once. Nothing else about the run changes: guards, ledger, checkpoints are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk

TokenSink = Callable[[str, str], None]
"""Receives `(node, text)` for each token."""

_sink: ContextVar[TokenSink | None] = ContextVar("waypoint_token_sink", default=None)


@contextmanager
def stream_tokens(sink: TokenSink) -> Iterator[None]:
    """Stream the model tokens of the runs started inside to `sink`."""
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)


def current_sink() -> TokenSink | None:
    """The sink of this context, if tokens are being streamed."""
    return _sink.get()


def forward(sink: TokenSink, part: Any) -> None:
    """Hand one `stream_mode="messages"` item (with or without its namespace) to `sink`."""
    namespace: tuple[str, ...] = ()
    if isinstance(part, tuple) and len(part) == 2 and isinstance(part[0], tuple):
        namespace, part = part  # (namespace, (message, metadata)) with subgraphs=True
    message, metadata = part
    if not isinstance(message, AIMessageChunk | AIMessage):
        return  # tool results and human messages are not tokens
    text = message.text if isinstance(message.text, str) else ""
    if text:
        node = str(metadata.get("langgraph_node", "?"))
        # a subgraph's node is named with its task: `research:1f2e3d/agent`
        tasks = [f"{name}:{task[:6]}" for name, _, task in (s.partition(":") for s in namespace)]
        sink("/".join([*tasks, node]), text)

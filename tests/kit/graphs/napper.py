"""Kit test graph: a node inside a slow capability call, for kills that land while it runs.

`nap` (async) calls the `kit_nap` capability, whose offline provider sleeps for the seconds
asked (a stand-in for a slow model call); `sync_nap` does the same from a sync node
(`Capability.call_sync`); `pay` opens an effect transaction, writes a row, sleeps, writes a
second row and commits (a kill must leave both rows or neither). `mode` picks the node;
`KIT_NAP_CAP_SECONDS` caps the sleeps.
"""

from __future__ import annotations

import asyncio
import operator
import os
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel

from waypoint import (
    Capability,
    Executor,
    Migration,
    OfflineProvider,
    effect_key,
    perform_once,
    register_tables,
    registry,
    run_database,
)


class NapRequest(BaseModel):
    """How long to sleep."""

    seconds: float


class NapAnswer(BaseModel):
    """How long it slept."""

    slept: float


NAP_CAP = "KIT_NAP_CAP_SECONDS"
"""Caps every sleep of this graph (a thread resumed after a kill need not sleep again)."""


def _seconds(asked: float) -> float:
    return min(asked, float(os.environ.get(NAP_CAP, "inf")))


async def _nap(request: NapRequest) -> NapAnswer:
    await asyncio.sleep(_seconds(request.seconds))
    return NapAnswer(slept=request.seconds)


NAP = Capability("kit_nap", "Sleeps (a stand-in for a slow model call).", NapRequest, NapAnswer)
registry.register(
    NAP,
    OfflineProvider(
        "kit_nap_offline", "1", "Offline, deterministic: sleeps as asked.", _nap,
        timeout_seconds=120,
    ),
)  # fmt: skip

register_tables(
    Migration(
        component="kit_napper",
        version=1,
        name="rows an effect transaction writes in two parts",
        sqlite="CREATE TABLE kit_nap_rows (thread_id TEXT NOT NULL, part INTEGER NOT NULL)",
    )
)


class NapState(TypedDict, total=False):
    """What to do and what happened."""

    mode: Literal["async", "sync", "pay"]
    seconds: float
    log: Annotated[list[str], operator.add]


async def nap(state: NapState) -> dict[str, Any]:
    """Sleeps inside a capability call."""
    answer = await NAP.call(NapRequest(seconds=state.get("seconds", 10.0)))
    return {"log": [f"nap:{answer.slept:g}"]}


def sync_nap(state: NapState) -> dict[str, Any]:
    """The same from a sync node: twice, so a kill after the first is seen at the second."""
    seconds = state.get("seconds", 10.0)
    first = NAP.call_sync(NapRequest(seconds=seconds))
    second = NAP.call_sync(NapRequest(seconds=seconds))
    return {"log": [f"sync_nap:{first.slept + second.slept:g}"]}


async def pay(state: NapState, config: RunnableConfig) -> dict[str, Any]:
    """An effect transaction in two writes with a sleep between them."""
    thread_id = str(config.get("configurable", {})["thread_id"])

    async def apply(tx: Executor) -> dict[str, Any]:
        params = {"t": thread_id}
        await tx.execute("INSERT INTO kit_nap_rows (thread_id, part) VALUES (:t, 1)", params)
        await asyncio.sleep(_seconds(state.get("seconds", 10.0)))
        await tx.execute("INSERT INTO kit_nap_rows (thread_id, part) VALUES (:t, 2)", params)
        return {"parts": 2}

    await perform_once(
        await run_database(),
        key=effect_key("kit.nap_pay", thread_id),
        thread_id=thread_id,
        kind="kit.nap_pay",
        apply=apply,
    )
    return {"log": ["pay:done"]}


def after(state: NapState) -> dict[str, Any]:
    """Runs only if the nap was not killed."""
    return {"log": ["after"]}


def pick(state: NapState) -> Literal["nap", "sync_nap", "pay"]:
    """The node `mode` asks for."""
    mode = state.get("mode", "async")
    return "sync_nap" if mode == "sync" else "pay" if mode == "pay" else "nap"


builder = StateGraph(NapState)
builder.add_node("nap", nap)
builder.add_node("sync_nap", sync_nap)
builder.add_node("pay", pay)
builder.add_node("after", after)
builder.add_conditional_edges(START, pick)
for name in ("nap", "sync_nap", "pay"):
    builder.add_edge(name, "after")
builder.add_edge("after", END)
graph = builder.compile(name="napper")

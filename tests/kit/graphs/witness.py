"""Kit test graph `witness`: parallel subgraphs whose nodes look for their own ledger row.

`fan_out` sends one `lane` task per name; each is a subgraph of three async nodes in a row. Each
node reads the database named by `db` for the row of its own LangGraph task and notes its
status in `seen`: Waypoint writes a node's `started` row before its body runs, and nodes of
parallel subgraphs start at different moments (their rows share round trips). Plain LangGraph
and a plain database connection: no Waypoint import.
"""

from __future__ import annotations

import operator
import sqlite3
from typing import Annotated, Any, TypedDict

import psycopg
from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph
from langgraph.types import Send


class WitnessState(TypedDict, total=False):
    """The lanes to run, the database to look in, and what each node saw."""

    lanes: list[str]
    db: str
    seen: Annotated[list[str], operator.add]


class LaneState(TypedDict, total=False):
    """One lane's name and the database (its nodes add to `seen`)."""

    lane: str
    db: str
    seen: Annotated[list[str], operator.add]


class LaneOutput(TypedDict):
    """What a lane gives back: only what its nodes saw."""

    seen: Annotated[list[str], operator.add]


def own_row_status(db: str, thread_id: str, task_id: str) -> str:
    """The status of the ledger row of one task, or `missing`."""
    sql = "SELECT status FROM waypoint_ledger WHERE thread_id = {p} AND task_id = {p}"
    if db.startswith("sqlite:///"):
        with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
            row = conn.execute(sql.format(p="?"), (thread_id, task_id)).fetchone()
    else:
        with psycopg.connect(db, autocommit=True) as pg:
            row = pg.execute(sql.format(p="%s"), (thread_id, task_id)).fetchone()
    return str(row[0]) if row else "missing"


def _look(name: str) -> Any:
    async def look(state: LaneState, config: RunnableConfig) -> dict[str, Any]:
        """Note the status of this task's own ledger row, as the body starts."""
        task_ns = str(config["metadata"]["langgraph_checkpoint_ns"])
        task_id = task_ns.rpartition("|")[2].rpartition(":")[2]
        thread_id = str(config["configurable"]["thread_id"])
        status = own_row_status(state["db"], thread_id, task_id)
        return {"seen": [f"{state['lane']}.{name}:{status}"]}

    return look


_lane = StateGraph(LaneState, output_schema=LaneOutput)
_lane.add_node("look_a", _look("a"))
_lane.add_node("look_b", _look("b"))
_lane.add_node("look_c", _look("c"))
_lane.add_edge(START, "look_a")
_lane.add_edge("look_a", "look_b")
_lane.add_edge("look_b", "look_c")


def fan_out(state: WitnessState) -> list[Send]:
    """One lane per name."""
    return [Send("lane", {"lane": lane, "db": state["db"]}) for lane in state.get("lanes", [])]


_witness = StateGraph(WitnessState)
_witness.add_node("lane", _lane.compile())
_witness.add_conditional_edges(START, fan_out, ["lane"])
graph = _witness.compile(name="witness")

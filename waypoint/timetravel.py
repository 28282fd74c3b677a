"""Time travel over a thread's checkpoints: history, show, diff, replay and fork.

Everything that writes goes through LangGraph's own time-travel API:
`ainvoke(None, config_with_checkpoint_id)` to replay, `aupdate_state(config_with_checkpoint_id,
values, as_node=...)` to fork. Nothing copies checkpoints by hand. State values are read with
`aget_state`. Reads take no lock; replay and fork hold the thread's writer lock, like `run` and
`resume`, and validate everything before they write; what they write carries the lock's fencing
token (`waypoint.persistence.writer_fence`), so a replay or fork that lost the lock stops.

Vocabulary (LangGraph's checkpoint metadata `source`): `input` (a run's input), `loop` (after a
super-step), `update` (an `update_state`, e.g. a fork), `fork` (the copy LangGraph saves when a
run replays a past checkpoint). A checkpoint with more than one child is a branch point; a child
made by `update` or `fork`, or any child of a branch point but its first, starts a branch.

History rows are read from the saver's tables on the savers Waypoint opens
(`waypoint.checkpoint_tables`, `waypoint.checkpoint_facts`): ids and parents of every checkpoint
(for the branches), and the saved checkpoints of only the rows shown; `show` and `diff` read the
one or two checkpoints they print. Any other saver, or a checkpoint those modules do not model,
goes through LangGraph's `aget_state_history`, which gives the same rows, slower.
"""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import CheckpointTuple
from langgraph.errors import InvalidUpdateError
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StateSnapshot
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from waypoint.admission import check_update, protected_fields, trusted
from waypoint.checkpoint_facts import (
    CheckpointFacts,
    FactsReader,
    GateInfo,
    InterruptInfo,
    facts_from_snapshot,
    gates_in,
    snapshot_values,
)
from waypoint.checkpoint_tables import CheckpointLink, tables_for
from waypoint.effect_plan import (
    PlannedEffect,
    check_effects_allowed,
    plan_effects,
    successors,
)
from waypoint.errors import BadInput, WaypointError
from waypoint.input_checks import check_count, check_id, check_json_value, check_thread_id
from waypoint.kill import record_override
from waypoint.persistence.stores import Stores, open_stores
from waypoint.persistence.thread_lock import hold_thread
from waypoint.persistence.writer_fence import is_fence_refusal
from waypoint.runner import (
    ThreadReport,
    _compiled,
    _config,
    _database_guard,
    _index_upsert,
    _load,
    current_report,
    execute,
    mark_running,
    validate,
)
from waypoint.state_diff import FieldChange, diff_states
from waypoint.workflows import Workflow

AS_NODE_KEY = "waypoint_as_node"
"""Configurable key a fork passes to `aupdate_state`; savers copy it into the checkpoint metadata,
so `history` can say which node a fork wrote as."""

Graph = CompiledStateGraph[Any, Any, Any, Any]


@dataclass
class CheckpointRow:
    """One checkpoint of a thread, as `history` lists it."""

    step: int
    checkpoint_id: str
    parent_id: str | None
    source: str
    """`input`, `loop`, `update` or `fork` (LangGraph's checkpoint metadata)."""
    writers: list[str]
    """Nodes whose writes made this checkpoint: the parent's tasks for `loop`, the `as_node` of
    an `update` made by `waypoint fork`; empty for `input` and for a `fork` (a copy)."""
    created_at: str | None
    next: list[str]
    interrupts: list[InterruptInfo]
    gates: list[GateInfo]
    children: int = 0
    branch_point: bool = False
    """More than one checkpoint was written from this one."""
    branch_start: bool = False
    """This checkpoint starts a branch (a fork, an update, or a later child of a branch point)."""
    branch: str = "main"
    """`main`, or the id of the checkpoint that started the branch this one is on."""
    on_head_line: bool = False
    """On the path from the thread's latest checkpoint back to its first: what `status`,
    `resume` and `run` see."""
    is_head: bool = False
    """The thread's latest checkpoint."""
    checkpoint_ns: str = ""
    """`""` for the thread's graph; `NODE:TASK_ID` for a checkpoint a subgraph saved while
    node NODE ran (listed with `history --subgraphs`; its step counts the subgraph's steps)."""

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready record (for `--json`)."""
        return {
            "checkpoint_ns": self.checkpoint_ns,
            "step": self.step,
            "checkpoint_id": self.checkpoint_id,
            "parent_checkpoint_id": self.parent_id,
            "source": self.source,
            "writers": self.writers,
            "created_at": self.created_at,
            "next": self.next,
            "interrupts": [i.as_json() for i in self.interrupts],
            "gates": [g.as_json() for g in self.gates],
            "children": self.children,
            "branch_point": self.branch_point,
            "branch_start": self.branch_start,
            "branch": self.branch,
            "on_head_line": self.on_head_line,
            "is_head": self.is_head,
        }


@dataclass
class ThreadHistory:
    """A thread's checkpoints, newest first."""

    thread_id: str
    graph: str
    head: str | None
    total: int
    """Checkpoints in the thread (`rows` may hold fewer, with `--limit`)."""
    rows: list[CheckpointRow]

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready summary (for `--json`)."""
        return {
            "thread_id": self.thread_id,
            "graph": self.graph,
            "head": self.head,
            "total": self.total,
            "checkpoints": [row.as_json() for row in self.rows],
        }


@dataclass
class CheckpointView:
    """The state at one checkpoint, as `show` prints it."""

    thread_id: str
    graph: str
    checkpoint: CheckpointRow
    values: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready record (for `--json`)."""
        return {
            "thread_id": self.thread_id,
            "graph": self.graph,
            **self.checkpoint.as_json(),
            "values": self.values,
        }


@dataclass
class StateDiff:
    """What changed between two checkpoints of one thread."""

    thread_id: str
    graph: str
    before: CheckpointRow
    after: CheckpointRow
    changes: list[FieldChange]

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready record (for `--json`)."""

        def ends(row: CheckpointRow) -> dict[str, Any]:
            return {"checkpoint_id": row.checkpoint_id, "step": row.step, "source": row.source}

        return {
            "thread_id": self.thread_id,
            "graph": self.graph,
            "from": ends(self.before),
            "to": ends(self.after),
            "changes": [change.as_json() for change in self.changes],
        }


@dataclass
class ForkResult:
    """A new branch written by `fork`."""

    thread_id: str
    forked_from: str
    checkpoint_id: str
    as_node: str | None
    updated: dict[str, Any]
    """The fields written, as stored (validated and normalised by the state schema)."""
    report: ThreadReport = field(repr=False)
    """Where the thread stands now, at the new checkpoint."""
    effects: list[PlannedEffect] = field(default_factory=list)
    """The side effects continuing the branch may perform (allowed by `allow_effects`)."""

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready record (for `--json`)."""
        return {
            "thread_id": self.thread_id,
            "forked_from": self.forked_from,
            "checkpoint_id": self.checkpoint_id,
            "as_node": self.as_node,
            "updated": self.updated,
            "status": self.report.status,
            "next": self.report.next,
            "effects": [effect.as_json() for effect in self.effects],
        }


async def _performed_kinds(stores: Stores, thread_id: str) -> set[str]:
    """The kinds of side effect this thread has performed (their keys make them replay)."""
    rows = await stores.db.fetchall(
        "SELECT DISTINCT kind FROM waypoint_side_effects WHERE thread_id = :thread_id",
        {"thread_id": thread_id},
    )
    return {str(row["kind"]) for row in rows}


def _checkpoint_id(config: RunnableConfig | None) -> str | None:
    if not config:
        return None
    value = config.get("configurable", {}).get("checkpoint_id")
    return str(value) if value else None


def _at(
    thread_id: str, checkpoint_id: str, extra: Mapping[str, Any] | None = None
) -> RunnableConfig:
    """The config addressing one checkpoint of the thread (root namespace)."""
    return _config(
        thread_id, {"checkpoint_ns": "", "checkpoint_id": checkpoint_id, **(extra or {})}
    )


def _source(link: CheckpointLink) -> str:
    return str(link.metadata.get("source", "?"))


@dataclass(frozen=True)
class _ThreadTree:
    """A thread's checkpoints, newest first, and the facts read for some of them."""

    links: list[CheckpointLink]
    facts: dict[str, CheckpointFacts]
    """By checkpoint id: those asked for and their parents (a `loop` row's writers are its
    parent's tasks)."""


def _with_parents(links: list[CheckpointLink], ids: Collection[str]) -> set[str]:
    parents = {link.checkpoint_id: link.parent_id for link in links}
    return {*ids, *(p for i in ids if (p := parents.get(i)) is not None)}


async def _read_tree(
    stores: Stores,
    graph: Graph,
    thread_id: str,
    *,
    newest: int | None = None,
    ids: Collection[str] | None = None,
) -> _ThreadTree:
    """Every checkpoint's link, with facts for the `newest` N, or for `ids`, or for all.

    From the saver's tables when they are known and the checkpoints modelled; otherwise from
    LangGraph's `aget_state_history` (every checkpoint, whatever was asked).
    """
    tables, reader = tables_for(stores), FactsReader(graph)
    if tables is not None and reader.supported():
        if newest is None and ids is None:
            stored = await tables.read(thread_id, None)
            links = [s.link for s in stored]
        else:
            links = await tables.links(thread_id)
            if newest is not None:
                ids = [link.checkpoint_id for link in links[:newest]]
            stored = await tables.read(thread_id, _with_parents(links, ids or []))
        facts = {s.link.checkpoint_id: reader.facts(s) for s in stored}
        if all(f is not None for f in facts.values()):
            return _ThreadTree(links, {k: f for k, f in facts.items() if f is not None})
    return await _read_tree_from_snapshots(graph, thread_id)


async def _read_tree_from_snapshots(graph: Graph, thread_id: str) -> _ThreadTree:
    """The tree with every checkpoint's facts, from LangGraph's `aget_state_history`."""
    links: list[CheckpointLink] = []
    facts: dict[str, CheckpointFacts] = {}
    async for snapshot in graph.aget_state_history(_config(thread_id)):
        checkpoint_id = str(_checkpoint_id(snapshot.config))
        parent_id = _checkpoint_id(snapshot.parent_config)
        links.append(CheckpointLink(checkpoint_id, parent_id, dict(snapshot.metadata or {})))
        facts[checkpoint_id] = facts_from_snapshot(snapshot)
    return _ThreadTree(links, facts)


@dataclass
class _BranchMarks:
    """Where a checkpoint sits among the thread's branches (see `CheckpointRow`)."""

    children: int = 0
    branch_point: bool = False
    branch_start: bool = False
    branch: str = "main"
    on_head_line: bool = False
    is_head: bool = False


def _branch_marks(links: list[CheckpointLink]) -> dict[str, _BranchMarks]:
    """Children, branch points, branch starts and the head's line; `links` are newest first."""
    parents = {link.checkpoint_id: link.parent_id for link in links}
    marks = {link.checkpoint_id: _BranchMarks() for link in links}
    children: dict[str, list[str]] = {}
    for link in reversed(links):  # oldest first, so a parent's first child comes first
        if link.parent_id is not None:
            children.setdefault(link.parent_id, []).append(link.checkpoint_id)
    for link in reversed(links):
        mark = marks[link.checkpoint_id]
        kids = children.get(link.checkpoint_id, [])
        mark.children = len(kids)
        mark.branch_point = len(kids) > 1
        parent = marks.get(link.parent_id) if link.parent_id else None
        later_child = parent is not None and children[str(link.parent_id)][0] != link.checkpoint_id
        mark.branch_start = _source(link) in ("update", "fork") or later_child
        if mark.branch_start:
            mark.branch = link.checkpoint_id
        elif parent is not None:
            mark.branch = parent.branch
    if links:
        marks[links[0].checkpoint_id].is_head = True
        line: str | None = links[0].checkpoint_id
        while line is not None and line in marks:
            marks[line].on_head_line = True
            line = parents[line]
    return marks


def _rows(tree: _ThreadTree, shown: list[CheckpointLink]) -> list[CheckpointRow]:
    """The history rows of the `shown` links (whose facts `tree` holds), branches marked."""
    marks = _branch_marks(tree.links)
    rows: list[CheckpointRow] = []
    for link in shown:
        metadata, source, facts = link.metadata, _source(link), tree.facts[link.checkpoint_id]
        parent = tree.facts.get(link.parent_id) if link.parent_id else None
        writers: list[str] = []
        if source == "loop" and parent is not None:
            writers = list(parent.next)
        elif source == "update" and metadata.get(AS_NODE_KEY):
            writers = [str(metadata.get(AS_NODE_KEY))]
        mark = marks[link.checkpoint_id]
        rows.append(
            CheckpointRow(
                step=int(metadata.get("step", -1)),
                checkpoint_id=link.checkpoint_id,
                parent_id=link.parent_id,
                source=source,
                writers=writers,
                created_at=facts.created_at,
                next=list(facts.next),
                interrupts=list(facts.interrupts),
                gates=list(facts.gates),
                children=mark.children,
                branch_point=mark.branch_point,
                branch_start=mark.branch_start,
                branch=mark.branch,
                on_head_line=mark.on_head_line,
                is_head=mark.is_head,
            )
        )
    return rows


@asynccontextmanager
async def _open_thread(
    thread_id: str, db_url: str | None, *, write: bool = False
) -> AsyncIterator[tuple[Stores, Workflow, BaseModel, Graph]]:
    """The thread's stores, workflow, run context and compiled graph; the writer lock if `write`.

    Raises:
        BadInput: no such thread in the index.
        ThreadBusy: `write` and another process holds the thread.
    """
    check_thread_id(thread_id)
    async with open_stores(db_url) as stores:
        workflow, context, _ = await _load(stores, thread_id)
        graph = await _compiled(workflow, stores)
        if not write:
            yield stores, workflow, context, graph
            return
        async with hold_thread(stores.url, stores.db, thread_id):
            yield stores, workflow, context, graph


async def _nested(stores: Stores, thread_id: str) -> list[CheckpointTuple]:
    """Checkpoints subgraphs saved in the thread (any namespace but the root), newest first.

    A compiled graph run as a node, or a graph invoked inside a node, saves its own
    checkpoints under the namespace `NODE:TASK_ID` of the task that ran it. They are read from
    the saver as saved (every saver lists every namespace when none is named).
    """
    found: list[CheckpointTuple] = []
    async for saved in stores.checkpointer.alist({"configurable": {"thread_id": thread_id}}):
        if saved.config["configurable"].get("checkpoint_ns"):
            found.append(saved)
    return found


def _nested_values(saved: CheckpointTuple) -> dict[str, Any]:
    """A subgraph checkpoint's state channels as saved (LangGraph's own channels left out)."""
    values = saved.checkpoint["channel_values"]
    return {
        k: v for k, v in values.items() if not k.startswith("__") and not k.startswith("branch:")
    }


def _nested_row(saved: CheckpointTuple) -> CheckpointRow:
    """The history row of a subgraph's checkpoint: where it is, its source, its gates.

    Its next nodes are not worked out (that needs the subgraph, which a node may build itself).
    """
    configurable = saved.config["configurable"]
    metadata: dict[str, Any] = dict(saved.metadata or {})
    return CheckpointRow(
        step=int(metadata.get("step", -1)),
        checkpoint_id=str(configurable["checkpoint_id"]),
        parent_id=_checkpoint_id(saved.parent_config),
        source=str(metadata.get("source", "?")),
        writers=[],
        created_at=saved.checkpoint.get("ts"),
        next=[],
        interrupts=[],
        gates=gates_in(_nested_values(saved)),
        checkpoint_ns=str(configurable.get("checkpoint_ns") or ""),
    )


async def _nested_at(stores: Stores, thread_id: str, checkpoint_id: str) -> CheckpointTuple | None:
    """The subgraph checkpoint of that id in the thread, if there is one."""
    for saved in await _nested(stores, thread_id):
        if saved.config["configurable"].get("checkpoint_id") == checkpoint_id:
            return saved
    return None


async def _refuse_nested(
    stores: Stores, thread_id: str, checkpoint_id: str, unknown: BadInput, verb: str
) -> BadInput:
    """The refusal to `verb` from a subgraph's checkpoint, or `unknown` if it is not one."""
    saved = await _nested_at(stores, thread_id, checkpoint_id)
    if saved is None:
        return unknown
    namespace = saved.config["configurable"]["checkpoint_ns"]
    node = str(namespace).split("|", 1)[0].rpartition(":")[0]
    return BadInput(
        f"checkpoint: {checkpoint_id} is a checkpoint of the subgraph run by node {node!r} "
        f"({namespace}); {verb} works only on the thread's own checkpoints: pick the one "
        f"before {node!r} from `waypoint history {thread_id}`",
        field="checkpoint",
    )


def _unknown_checkpoint(thread_id: str, checkpoint_id: str) -> BadInput:
    return BadInput(
        f"checkpoint: no checkpoint {checkpoint_id!r} in thread {thread_id}; "
        f"`waypoint history {thread_id}` lists them",
        field="checkpoint",
    )


STEP_DIGITS = 6
"""A checkpoint named by up to this many digits (`3`, `-1`) is named by its step number."""

ELLIPSES = ("…", "...")
"""A checkpoint named `…TAIL` (as `history` shows a parent) is the one whose id ends so."""


def _head_line(links: list[CheckpointLink]) -> set[str]:
    """The checkpoints on the current line: the newest one and its ancestors (newest first)."""
    parents = {link.checkpoint_id: link.parent_id for link in links}
    line: set[str] = set()
    current = links[0].checkpoint_id if links else None
    while current is not None and current not in line:
        line.add(current)
        current = parents.get(current)
    return line


def _listed(ids: list[str]) -> str:
    shown = ", ".join(ids[:5])
    return shown + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


def resolve_checkpoint(links: list[CheckpointLink], thread_id: str, name: str) -> str:
    """The id of the checkpoint `name` means, as `waypoint history` shows checkpoints.

    `name` is a checkpoint id, a unique prefix of one, `…TAIL` (the end of one, as history shows
    parents), or a step number (up to `STEP_DIGITS` digits, `-1` for the input). A step that
    several branches reached means the one on the current line (history's `*`), if there is one.

    Raises:
        BadInput: no checkpoint, or several, match (field `checkpoint`, with the candidates).
    """
    ids = [link.checkpoint_id for link in links]
    if name in ids:
        return name
    hint = f"`waypoint history {thread_id}` lists them"
    digits = name[1:] if name.startswith("-") else name
    if digits.isdigit() and len(digits) <= STEP_DIGITS:
        step = int(name)
        found = [link.checkpoint_id for link in links if link.metadata.get("step") == step]
        if len(found) > 1:
            line = _head_line(links)
            found = [c for c in found if c in line] or found
        if len(found) == 1:
            return found[0]
        if not found:
            raise BadInput(
                f"checkpoint: no checkpoint at step {step} in thread {thread_id}; {hint}",
                field="checkpoint",
            )
        raise BadInput(
            f"checkpoint: step {step} is ambiguous in thread {thread_id}, none of its "
            f"checkpoints is on the current line: {_listed(found)}; give an id or a unique "
            "prefix",
            field="checkpoint",
        )
    tail = next((name[len(e) :] for e in ELLIPSES if name.startswith(e)), None)
    if tail is not None:
        found = [c for c in ids if tail and c.endswith(tail)]
    else:
        found = [c for c in ids if c.startswith(name)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise _unknown_checkpoint(thread_id, name)
    raise BadInput(
        f"checkpoint: {name!r} is ambiguous in thread {thread_id}: it matches {len(found)} "
        f"checkpoints ({_listed(found)}); give more of the id",
        field="checkpoint",
    )


async def _resolve(stores: Stores, graph: Graph, thread_id: str, name: str) -> str:
    """`resolve_checkpoint` on the thread's checkpoints (read from the saver's tables if known)."""
    tables = tables_for(stores)
    if tables is not None:
        links = await tables.links(thread_id)
    else:
        links = (await _read_tree_from_snapshots(graph, thread_id)).links
    return resolve_checkpoint(links, thread_id, name)


def _find(rows: list[CheckpointRow], thread_id: str, checkpoint_id: str) -> CheckpointRow:
    for row in rows:
        if row.checkpoint_id == checkpoint_id:
            return row
    raise _unknown_checkpoint(thread_id, checkpoint_id)


async def _snapshot_at(graph: Graph, thread_id: str, checkpoint_id: str) -> StateSnapshot:
    """The snapshot of one checkpoint of the thread.

    Raises:
        BadInput: the thread has no checkpoint of that id.
    """
    snapshot = await graph.aget_state(_at(thread_id, checkpoint_id))
    if snapshot.metadata is None or _checkpoint_id(snapshot.config) != checkpoint_id:
        raise _unknown_checkpoint(thread_id, checkpoint_id)
    return snapshot


async def _rows_at(
    stores: Stores, graph: Graph, thread_id: str, checkpoint_ids: list[str]
) -> list[CheckpointRow]:
    """The rows of the given checkpoints, in that order, read without the rest of the history.

    Raises:
        BadInput: one of them is not a checkpoint of the thread (the first such is named).
    """
    tree = await _read_tree(stores, graph, thread_id, ids=checkpoint_ids)
    by_id = {link.checkpoint_id: link for link in tree.links}
    for checkpoint_id in checkpoint_ids:
        if checkpoint_id not in by_id:
            raise _unknown_checkpoint(thread_id, checkpoint_id)
    return _rows(tree, [by_id[checkpoint_id] for checkpoint_id in checkpoint_ids])


async def thread_history(
    thread_id: str, *, db_url: str | None = None, limit: int | None = None, subgraphs: bool = False
) -> ThreadHistory:
    """Every checkpoint of the thread, newest first (at most `limit`), with branches marked.

    With `limit`, only the rows shown are built; `total` still counts every checkpoint.
    With `subgraphs`, the checkpoints subgraphs saved are listed too, each naming its
    namespace (`checkpoint_ns`), among the thread's own by time.

    Raises:
        BadInput: no such thread, or `limit` below 1.
    """
    if limit is not None:
        check_count(limit, "limit")
    async with _open_thread(thread_id, db_url) as (stores, workflow, _, graph):
        if subgraphs:
            tree = await _read_tree(stores, graph, thread_id)
            nested = [_nested_row(saved) for saved in await _nested(stores, thread_id)]
        else:
            tree, nested = await _read_tree(stores, graph, thread_id, newest=limit), []
    links = tree.links
    rows = _rows(tree, links if nested or limit is None else links[:limit])
    if nested:  # checkpoint ids are ordered by time (uuid6)
        rows = sorted([*rows, *nested], key=lambda row: row.checkpoint_id, reverse=True)[:limit]
    return ThreadHistory(
        thread_id=thread_id,
        graph=workflow.name,
        head=links[0].checkpoint_id if links else None,
        total=len(links) + len(nested),
        rows=rows,
    )


async def show_checkpoint(
    thread_id: str, checkpoint_id: str | None = None, *, db_url: str | None = None
) -> CheckpointView:
    """The state at `checkpoint_id`, or at the thread's latest checkpoint.

    Raises:
        BadInput: no such thread, no such checkpoint, or a thread with no checkpoint yet.
    """
    if checkpoint_id is not None:
        check_id(checkpoint_id, "checkpoint", what="checkpoint id")
    async with _open_thread(thread_id, db_url) as (stores, workflow, _, graph):
        if checkpoint_id is None:
            # The live view of the head: values include finished tasks' pending writes.
            snapshot = await graph.aget_state(_config(thread_id))
            head = _checkpoint_id(snapshot.config)
            if head is None:
                raise BadInput(f"thread: {thread_id} has no checkpoint yet", field="thread")
            [row] = await _rows_at(stores, graph, thread_id, [head])
        else:
            try:
                checkpoint_id = await _resolve(stores, graph, thread_id, checkpoint_id)
                [row] = await _rows_at(stores, graph, thread_id, [checkpoint_id])
            except BadInput:
                saved = await _nested_at(stores, thread_id, checkpoint_id)
                if saved is None:
                    raise
                return CheckpointView(
                    thread_id=thread_id,
                    graph=workflow.name,
                    checkpoint=_nested_row(saved),
                    values=_nested_values(saved),
                )
            snapshot = await _snapshot_at(graph, thread_id, checkpoint_id)
    return CheckpointView(
        thread_id=thread_id, graph=workflow.name, checkpoint=row, values=snapshot_values(snapshot)
    )


async def _nested_diff(
    stores: Stores, graph_name: str, thread_id: str, before_id: str, after_id: str
) -> StateDiff | None:
    """The diff of two checkpoints of one subgraph run (named by full id), else None.

    A subgraph's checkpoints hold its own state (a `Send` task's, a subgraph node's), so two of
    them compare as saved; a thread's checkpoint and a subgraph's do not compare.
    """
    before = await _nested_at(stores, thread_id, before_id)
    after = await _nested_at(stores, thread_id, after_id)
    if before is None or after is None:
        return None
    namespaces = {str(s.config["configurable"]["checkpoint_ns"]) for s in (before, after)}
    if len(namespaces) != 1:
        raise BadInput(
            f"checkpoint: {before_id} and {after_id} belong to different subgraph runs "
            f"({', '.join(sorted(namespaces))}); diff compares checkpoints of one run",
            field="checkpoint",
        )
    return StateDiff(
        thread_id=thread_id,
        graph=graph_name,
        before=_nested_row(before),
        after=_nested_row(after),
        changes=diff_states(
            to_jsonable_python(_nested_values(before), fallback=str),
            to_jsonable_python(_nested_values(after), fallback=str),
        ),
    )


async def diff_checkpoints(
    thread_id: str, before_id: str, after_id: str, *, db_url: str | None = None
) -> StateDiff:
    """Field-by-field changes from checkpoint `before_id` to `after_id` (any two, any branch).

    Two checkpoints of one subgraph run (as `history --subgraphs` lists them, by full id)
    compare too.

    Raises:
        BadInput: no such thread or checkpoint.
    """
    check_id(before_id, "checkpoint", what="checkpoint id")
    check_id(after_id, "checkpoint", what="checkpoint id")
    async with _open_thread(thread_id, db_url) as (stores, workflow, _, graph):
        try:
            before_id = await _resolve(stores, graph, thread_id, before_id)
            after_id = await _resolve(stores, graph, thread_id, after_id)
            before_row, after_row = await _rows_at(stores, graph, thread_id, [before_id, after_id])
        except BadInput as unknown:
            nested = await _nested_diff(stores, workflow.name, thread_id, before_id, after_id)
            if nested is not None:
                return nested
            for checkpoint_id in (before_id, after_id):
                refusal = await _refuse_nested(stores, thread_id, checkpoint_id, unknown, "diff")
                if refusal is not unknown:
                    raise refusal from None
            raise
        before = snapshot_values(await _snapshot_at(graph, thread_id, before_id))
        after = snapshot_values(await _snapshot_at(graph, thread_id, after_id))
    return StateDiff(
        thread_id=thread_id,
        graph=workflow.name,
        before=before_row,
        after=after_row,
        changes=diff_states(before, after),
    )


async def replay_thread(
    thread_id: str,
    checkpoint_id: str,
    *,
    db_url: str | None = None,
    allow_effects: bool = False,
) -> ThreadReport:
    """Re-execute the thread from a past checkpoint: the nodes after it run again.

    LangGraph saves a `fork` copy of the checkpoint and runs from there, so the new run is a
    branch and the old one stays in the history. Human steps ask again. The thread index is
    updated with where the thread stands after the replay.

    A replay whose path may perform a declared side effect (`waypoint.effect_plan`) runs only
    with `allow_effects`; the report lists them (`planned_effects`).

    Raises:
        BadInput: no such thread or checkpoint, or a checkpoint after which nothing runs;
            side effects on the path without `allow_effects` (field `allow-effects`).
        ThreadBusy: another process holds the thread.
    """
    check_id(checkpoint_id, "checkpoint", what="checkpoint id")
    async with _open_thread(thread_id, db_url, write=True) as (stores, workflow, context, graph):
        try:
            checkpoint_id = await _resolve(stores, graph, thread_id, checkpoint_id)
            snapshot = await _snapshot_at(graph, thread_id, checkpoint_id)
        except BadInput as unknown:
            raise await _refuse_nested(
                stores, thread_id, checkpoint_id, unknown, "replay"
            ) from None
        if not snapshot.next:
            raise BadInput(
                f"checkpoint: {checkpoint_id} is where a run ended; nothing runs after it. "
                f"Pick an earlier one from `waypoint history {thread_id}`",
                field="checkpoint",
            )
        plan = plan_effects(graph, snapshot.next, await _performed_kinds(stores, thread_id))
        check_effects_allowed(plan, allowed=allow_effects, action="replay", thread_id=thread_id)
        await mark_running(stores.db, thread_id)
        await execute(stores, workflow, graph, None, _at(thread_id, checkpoint_id), context)
        report = await current_report(graph, thread_id, workflow.name)
        await _index_upsert(stores.db, report)
        report.planned_effects = plan
        return report


def _default_as_node(rows: list[CheckpointRow], row: CheckpointRow, nodes: set[str]) -> str | None:
    """The node that wrote `row` (through `fork` copies), if exactly one; else LangGraph infers."""
    by_id = {r.checkpoint_id: r for r in rows}
    current: CheckpointRow | None = row
    while current is not None and current.source == "fork":
        current = by_id.get(current.parent_id) if current.parent_id else None
    if current is not None and len(current.writers) == 1 and current.writers[0] in nodes:
        return current.writers[0]
    return None


def _validated_update(schema: Any, values: Mapping[str, Any], update: Any) -> dict[str, Any]:
    """The update's fields as they will be stored, after checking the merged state.

    Raises:
        BadInput: not an object, empty, an unknown field, or a merged state the schema rejects.
    """
    if not isinstance(update, Mapping):
        raise BadInput(
            f"update: expected a JSON object of state fields, got {type(update).__name__}",
            field="update",
        )
    if not update:
        raise BadInput("update: expected at least one state field", field="update")
    fields = (
        list(schema.model_fields)
        if isinstance(schema, type) and issubclass(schema, BaseModel)
        else list(typing.get_type_hints(schema))
    )
    for key in update:
        if key not in fields:
            raise BadInput(
                f"update.{str(key)[:80]}: not a field of {getattr(schema, '__name__', 'the state')}"
                f"; expected one of {', '.join(fields)}",
                field=str(key)[:80],
            )
    merged = validate(schema, {**values, **update}, what="update")
    stored = to_jsonable_python(merged)
    return {str(key): stored[key] for key in update}


async def fork_thread(
    thread_id: str,
    checkpoint_id: str,
    update: Any,
    *,
    as_node: str | None = None,
    db_url: str | None = None,
    override: str | None = None,
    allow_effects: bool = False,
) -> ForkResult:
    """Start a branch from a past checkpoint with edited state, through `aupdate_state`.

    The update is written as if node `as_node` had returned it (default: the node that wrote
    the checkpoint), so the graph's edges from that node pick what runs next. Nothing runs yet:
    continue with `waypoint resume THREAD`, or `waypoint replay THREAD --from NEW_ID`.

    Fields the workflow protects (decisions, verdicts, human answers) are changed only with
    `override`, the reason, recorded with who gave it (`waypoint audit`).

    A branch whose continuation may perform a declared side effect (`waypoint.effect_plan`:
    every node reachable from the one the edit is written as) is written only with
    `allow_effects`; the result lists them.

    Raises:
        BadInput: no such thread or checkpoint; an update that is not an object of state
            fields, or that leaves a state the schema rejects; an unknown `as_node`, or one
            whose edges cannot route the edited state. Nothing is written then.
        PolicyRefused: the update writes a protected field and there is no `override`.
        BadInput: side effects on the branch's path without `allow_effects`.
        ThreadBusy: another process holds the thread.
        DatabaseUnavailable: the database went away while writing.
    """
    check_id(checkpoint_id, "checkpoint", what="checkpoint id")
    if as_node is not None:
        check_id(as_node, "as-node", what="node name")
    if isinstance(update, Mapping):
        check_json_value(update, "update")
    async with _open_thread(thread_id, db_url, write=True) as (stores, workflow, _, graph):
        schema = workflow.state_schema
        nodes = {name for name in graph.nodes if not name.startswith("__")}
        if as_node is not None and as_node not in nodes:
            raise BadInput(
                f"as-node: no node {as_node!r} in graph {workflow.name}; "
                f"expected one of {', '.join(sorted(nodes))}",
                field="as-node",
            )
        tree = await _read_tree(stores, graph, thread_id)
        rows = _rows(tree, tree.links)
        try:
            checkpoint_id = resolve_checkpoint(tree.links, thread_id, checkpoint_id)
            row = _find(rows, thread_id, checkpoint_id)
        except BadInput as unknown:
            raise await _refuse_nested(stores, thread_id, checkpoint_id, unknown, "fork") from None
        snapshot = await _snapshot_at(graph, thread_id, checkpoint_id)
        values = snapshot_values(snapshot)
        if not values:
            raise BadInput(
                f"checkpoint: {checkpoint_id} holds no state yet (the run's input is applied "
                "in the next step); fork from a later checkpoint",
                field="checkpoint",
            )
        if override is None:
            check_update(update, protected_fields(schema))
        updated = _validated_update(schema, values, update)
        chosen = as_node or _default_as_node(rows, row, nodes | {"__start__"})
        extra = {AS_NODE_KEY: chosen} if chosen else {}
        starts = successors(graph, chosen) if chosen else list(snapshot.next)
        plan = plan_effects(graph, starts, await _performed_kinds(stores, thread_id))
        check_effects_allowed(plan, allowed=allow_effects, action="fork", thread_id=thread_id)
        try:
            async with _database_guard(thread_id, stores.url.redacted):
                if override is not None:
                    overridden = {
                        "kind": "protected_update",
                        "checkpoint_id": checkpoint_id,
                        "fields": sorted(set(updated) & protected_fields(schema)),
                    }
                    await record_override(stores.db, thread_id, overridden, override)
                with trusted() if override is not None else nullcontext():
                    new_config = await graph.aupdate_state(
                        _at(thread_id, checkpoint_id, extra), updated, as_node=chosen
                    )
        except WaypointError:
            raise
        except InvalidUpdateError as exc:
            raise BadInput(
                f"as-node: LangGraph refused the update ({exc}); name the node whose output "
                "you are editing with --as-node",
                field="as-node",
            ) from exc
        except Exception as exc:
            if is_fence_refusal(exc):
                raise  # another writer took the thread over: `hold_thread` reports it
            # The node's edges run on the edited state before anything is saved: a router that
            # cannot route it (e.g. `review_gate`'s, before there is a decision) fails here.
            raise BadInput(
                f"as-node: the edges after {chosen or 'the inferred node'} cannot route the "
                f"edited state ({type(exc).__name__}: {exc}); nothing was written. Name the "
                "node whose output you are editing with --as-node",
                field="as-node",
            ) from exc
        report = await current_report(graph, thread_id, workflow.name)
        await _index_upsert(stores.db, report)
    return ForkResult(
        thread_id=thread_id,
        forked_from=checkpoint_id,
        checkpoint_id=str(_checkpoint_id(new_config)),
        as_node=chosen,
        updated=updated,
        report=report,
        effects=plan,
    )

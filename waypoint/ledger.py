"""The audit ledger: one row per node invocation, in the same database as the checkpoints.

`LedgerRecorder` is a callback attached to each run by the runner. Before a node's body runs it
checks the kill switch and the run's guards (a breach raises `GuardHalt`, which the error handler
turns into a halt); it writes a `started` row, fills it in when the node returns or raises, and
marks it `committed` with the checkpoint holding its writes once the saver reports that
checkpoint saved (or, with a saver that does not report, when `reconcile` finds it after the
run). A row whose checkpoint was never written (the process died) becomes `not_committed`: the
ledger never claims a success the checkpoints do not have. Fields marked sensitive in the state
schema (`json_schema_extra={"sensitive": True}`) never reach it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import operator
import sqlite3
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import CheckpointMetadata
from langgraph.errors import GraphInterrupt
from langgraph.types import Command, Interrupt
from pydantic import BaseModel

from waypoint.checkpoint_tables import tables_for, tables_in
from waypoint.guards import GuardHalt, Halt, RunGuard, canonical_json, digest_of, fingerprint
from waypoint.kill import pending_kill_query
from waypoint.kill_watch import RunStop
from waypoint.persistence.sql import Database, Row, Statement
from waypoint.persistence.store_values import without_nul
from waypoint.persistence.stores import Stores
from waypoint.sensitive import sensitive_field_names, without_keys

PENDING = ("started", "returned", "error")


def _digest_and_summary(output: Any, hidden: frozenset[str]) -> tuple[str | None, str]:
    """The output's digest and a short readable summary, from one redacted JSON text."""
    if output is None:
        return None, "NoneType"
    text = canonical_json(without_keys(output, hidden))
    digest = digest_of(text)  # `fingerprint` of the redacted output
    if not isinstance(output, dict):
        return digest, type(output).__name__
    return digest, text if len(text) <= 300 else text[:297] + "..."


def _gate(output: Any) -> tuple[str | None, bool | None]:
    if not isinstance(output, dict):
        return None, None
    for value in output.values():
        item = value[-1] if isinstance(value, list) and value else value
        if isinstance(item, dict) and "gate" in item and "passed" in item:
            return str(item["gate"]), bool(item["passed"])
    return None, None


COLUMNS = (
    "ledger_id",
    "thread_id",
    "graph",
    "run_id",
    "step",
    "node",
    "attempt",
    "status",
    "checkpoint_id",
    "capability",
    "provider",
    "provider_version",
    "routing_reason",
    "input_digest",
    "output_digest",
    "summary",
    "started_at",
    "ended_at",
    "latency_ms",
    "tokens",
    "cost_usd",
    "error_class",
    "error_message",
    "gate",
    "gate_passed",
    "actor",
    "human_decision",
    "task_id",
    "task_path",
    "checkpoint_ns",
)
"""The ledger's columns, in the order `_Row` keeps them."""

START_COLUMNS = (
    *("ledger_id", "thread_id", "graph", "run_id", "step", "node", "attempt", "status"),
    *("input_digest", "started_at", "actor", "error_class", "error_message"),
    *("task_id", "task_path", "checkpoint_ns"),
)
"""What a row holds when it is first written, as its node starts (or is halted)."""
LATER_COLUMNS = tuple(
    c for c in COLUMNS if c not in START_COLUMNS or c.startswith(("status", "error_"))
)
"""What changes afterwards: the node's end, its checkpoint."""


@dataclass(slots=True)
class _Row:
    """One ledger row as this run knows it; written whenever it changed."""

    ledger_id: str
    thread_id: str
    graph: str
    run_id: str
    step: int
    node: str
    attempt: int
    status: str
    started_at: str
    actor: str
    checkpoint_id: str | None = None
    capability: str | None = None
    provider: str | None = None
    provider_version: str | None = None
    routing_reason: str | None = None
    input_digest: str | None = None
    output_digest: str | None = None
    summary: str | None = None
    ended_at: str | None = None
    latency_ms: float | None = None
    tokens: int = 0
    cost_usd: str = "0"
    error_class: str | None = None
    error_message: str | None = None
    gate: str | None = None
    gate_passed: int | None = None
    human_decision: str | None = None
    task_id: str | None = None
    """LangGraph's id of the task: each `Send` task of a step has its own; retries share it."""
    task_path: str | None = None
    """LangGraph's path of the task (`__pregel_pull, NODE` or `__pregel_push, N, ...`)."""
    checkpoint_ns: str = ""
    """The namespace of the graph the node ran in: `""` at the top, `NODE:TASK` in a subgraph."""
    key: str = ""
    """The task's own namespace, which names it in this run (not a column)."""
    started: float = 0.0
    """`time.monotonic()` when the node's body started (for the latency; not a column)."""
    written: bool = False
    """Whether the database has it: an insert of it succeeded (not a column)."""
    sync: bool = False
    """Whether the node's body runs in a worker thread (not a column; `waypoint.kill_watch`)."""


@functools.cache
def _insert_sql(columns: tuple[str, ...], rows: int) -> str:
    values = ", ".join(
        "(" + ", ".join(f":r{i}_{column}" for column in columns) + ")" for i in range(rows)
    )
    return f"INSERT INTO waypoint_ledger ({', '.join(columns)}) VALUES {values}"


# Every column's value is written through `without_nul` (here, in `row_writes` and in
# `_as_json`), on both backends: Postgres text cannot hold NUL, and an error message quoting one
# (a node that read binary data) made the row's write fail, leaving the node `started` with its
# error lost.
def _insert(columns: tuple[str, ...], rows: list[_Row]) -> Statement:
    values = operator.attrgetter(*columns)
    params: dict[str, Any] = {}
    for i, row in enumerate(rows):
        params.update(
            zip([f"r{i}_{c}" for c in columns], map(without_nul, values(row)), strict=True)
        )
    return _insert_sql(columns, len(rows)), params


_UPDATE_SQL = (
    "UPDATE waypoint_ledger SET "
    + ", ".join(f"{c} = :{c}" for c in LATER_COLUMNS)
    + " WHERE ledger_id = :ledger_id"
)
_later_values = operator.attrgetter(*LATER_COLUMNS)


def row_writes(rows: list[_Row], kind: str = "sqlite") -> list[Statement]:
    """Statements that write these rows as they are now, each row touched once.

    A row not written yet is inserted: with what it holds at its start when that is all it
    holds (the usual case: a node starting), whole otherwise. A row written before gets an
    update of its later columns. On Postgres each kind of write is one statement whatever the
    number of rows, its rows one JSON parameter (`_as_json`).
    """
    fresh = [row for row in rows if not row.written]
    starting = [row for row in fresh if row.ended_at is None and row.checkpoint_id is None]
    whole = [row for row in fresh if row.ended_at is not None or row.checkpoint_id is not None]
    written = [row for row in rows if row.written]
    if kind == "postgres":
        return [
            _as_json(statement, chosen)
            for statement, chosen in (
                (_PG_INSERT_STARTING, starting),
                (_PG_INSERT_WHOLE, whole),
                (_PG_UPDATE, written),
            )
            if chosen
        ]
    writes: list[Statement] = []
    if starting:
        writes.append(_insert(START_COLUMNS, starting))
    if whole:
        writes.append(_insert(COLUMNS, whole))
    for row in written:
        params = dict(zip(LATER_COLUMNS, map(without_nul, _later_values(row)), strict=True))
        params["ledger_id"] = row.ledger_id
        writes.append((_UPDATE_SQL, params))
    return writes


_ROW_SET = "json_populate_recordset(NULL::waypoint_ledger, :rows::json) AS v"
_PG_INSERT_STARTING = (
    f"INSERT INTO waypoint_ledger ({', '.join(START_COLUMNS)}) "
    f"SELECT {', '.join(START_COLUMNS)} FROM {_ROW_SET}",
    START_COLUMNS,
)
_PG_INSERT_WHOLE = (
    f"INSERT INTO waypoint_ledger ({', '.join(COLUMNS)}) "
    f"SELECT {', '.join(COLUMNS)} FROM {_ROW_SET}",
    COLUMNS,
)
_PG_UPDATE = (
    "UPDATE waypoint_ledger AS l SET "
    + ", ".join(f"{c} = v.{c}" for c in LATER_COLUMNS)
    + f" FROM {_ROW_SET} WHERE l.ledger_id = v.ledger_id",
    ("ledger_id", *LATER_COLUMNS),
)
"""Each: the statement, and the columns its JSON objects carry (typed by the table's row)."""


def _as_json(statement: tuple[str, tuple[str, ...]], rows: list[_Row]) -> Statement:
    """Postgres: rows as one JSON parameter of objects, read back typed by the table's row type.

    The statement's text and its one parameter are the same for any number of rows, so psycopg
    and the server parse it once. Rows as a `VALUES` list (fifty rows: ≈1,000 parameters) were
    parsed and planned anew each time; as one array per column, psycopg's array dumper
    escapes every element with a regular expression. Client CPU to insert then update rows
    (one round trip each, this machine): 6 rows 2.8 -> 1.7 ms, 57 rows 7.9 -> 4.2 ms as arrays
    -> as JSON; one to three rows, the same as `VALUES` within the noise.
    """
    sql, columns = statement
    values = operator.attrgetter(*columns)
    text = json.dumps(
        [dict(zip(columns, map(without_nul, values(row)), strict=True)) for row in rows]
    )
    return sql, {"rows": text}


HALTING_HANDLERS = {"LedgerRecorder"}
"""Callback classes that raise `GuardHalt` on purpose (their logs of it are dropped)."""


class _GuardHaltIsNoError(logging.Filter):
    """Drops LangChain's log of a `GuardHalt` raised by the recorder.

    LangChain logs every exception a callback raises, even one raised on purpose to halt a
    run; the halt itself is recorded in the state and the ledger.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args  # (handler class, event, repr(exception))
        return not (
            isinstance(args, tuple)
            and len(args) == 3
            and args[0] in HALTING_HANDLERS
            and str(args[2]).startswith(f"{GuardHalt.__name__}(")
        )


logging.getLogger("langchain_core.callbacks.manager").addFilter(_GuardHaltIsNoError())

_current_recorder: ContextVar[LedgerRecorder | None] = ContextVar("waypoint_ledger", default=None)


def current_recorder() -> LedgerRecorder | None:
    """The ledger recorder of the run this code is part of."""
    return _current_recorder.get()


def set_recorder(recorder: LedgerRecorder | None) -> Any:
    """Install a recorder for the current context; returns the reset token."""
    return _current_recorder.set(recorder)


def set_recorder_reset(token: Any) -> None:
    """Undo `set_recorder`."""
    _current_recorder.reset(token)


def _now() -> str:
    return datetime.now(UTC).isoformat()


NS_SEP, NS_END = "|", ":"
"""How LangGraph joins a task's namespace: `PARENT_NODE:TASK_ID|NODE:TASK_ID` (its
`langgraph_checkpoint_ns`; the constants are private in `langgraph._internal._constants`)."""


@dataclass(frozen=True, slots=True)
class TaskKey:
    """Which LangGraph task a node invocation is: one per `Send`, per branch, per subgraph node."""

    task_ns: str
    """The task's own namespace (`langgraph_checkpoint_ns`): unique per task in a thread."""
    task_id: str
    checkpoint_ns: str
    """The namespace of the graph the task runs in (its checkpoints are saved under it)."""
    path: str


def task_key(metadata: dict[str, Any]) -> TaskKey:
    """The task a node's callback metadata names (LangGraph sets it on every task's config)."""
    task_ns = str(metadata.get("langgraph_checkpoint_ns") or "")
    parent, _, own = task_ns.rpartition(NS_SEP)
    path: tuple[Any, ...] = tuple(metadata.get("langgraph_path") or ())
    # A task called from a task (the functional API's `@task`) has the caller's path inside its
    # own, and the caller's namespace before its own, but runs in the caller's graph.
    caller = path
    while len(caller) > 1 and isinstance(caller[1], tuple):
        parent, caller = parent.rpartition(NS_SEP)[0], caller[1]
    return TaskKey(
        task_ns=task_ns,
        task_id=own.rpartition(NS_END)[2],
        checkpoint_ns=parent,
        path=", ".join(str(part) for part in path),
    )


class LedgerRecorder(AsyncCallbackHandler):
    """Guards and ledger rows around every node of one run.

    Each node's row is written as it starts, with the kill-switch read, in one round trip that
    also carries every row that changed since (the previous node's end, the commits). The
    saver tells the recorder which checkpoints it saved (`waypoint.persistence.observed_savers`),
    so each row is `committed` to its checkpoint as the run goes; rows still pending when the
    run ends had no checkpoint (`not_committed`). With another saver, `reconcile` reads the
    checkpoints back after the run instead.
    """

    run_inline = True
    raise_error = True  # a guard's GuardHalt must stop the node, not just be logged

    # Only node (chain) events matter here: LangChain skips this handler for the rest (every
    # model call, tool call and token would otherwise be dispatched to it).
    ignore_llm = True
    ignore_chat_model = True
    ignore_agent = True
    ignore_retriever = True
    ignore_retry = True
    ignore_custom_event = True

    def __init__(
        self,
        db: Database,
        *,
        thread_id: str,
        graph: str,
        guard: RunGuard,
        actor: str,
        state_schema: Any,
        run_id: str | None = None,
        stop: RunStop | None = None,
    ) -> None:
        """One recorder per run; `run_id` names the run (a new one if None).

        `stop` is the run's kill watch (`waypoint.kill_watch`): a kill it saw halts the next
        node without a query, and it is told which sync nodes are running.
        """
        self.db = db
        self.thread_id = thread_id
        self.graph = graph
        self.guard = guard
        self.actor = actor
        self.run_id = run_id or uuid.uuid4().hex
        self.hidden = sensitive_field_names([state_schema])
        self._rows: list[_Row] = []
        self._open: dict[UUID, _Row] = {}
        self._by_node: dict[tuple[str, int], _Row] = {}
        self._by_task: dict[str, _Row] = {}
        self._attempts: dict[str, int] = {}
        self._halted_rows: dict[str, _Row] = {}
        """Tasks halted before their body, by task key (one row each, however often asked)."""
        self._dirty: dict[str, _Row] = {}
        self._kill: Row | None = None
        self._waiting: list[asyncio.Future[list[Row]]] = []
        """Nodes waiting for the next round trip (their rows and the kill read), one future each."""
        self._trips: asyncio.Task[None] | None = None
        """The task that makes the round trips, one after another, while nodes wait for one."""
        self._kill_query = pending_kill_query(thread_id, graph)
        """The kill read each round trip ends with (the same for every trip of the run)."""
        self._halted: tuple[str, Halt] | None = None
        """The super-step where this run was first halted, and why."""
        self._observed = False
        """Whether the saver reported this run's checkpoints (then the run settles its rows)."""
        self.stop = stop
        self._halted_inside: Halt | None = None
        self.asked_by: dict[str, str] = {}
        """The node that asked each question of this run, by interrupt id (innermost node)."""
        self.last_saved: RunnableConfig | None = None
        """The newest checkpoint of the run's own graph this run saved (where a killed run's
        halt is recorded from)."""

    @property
    def halted_by(self) -> Halt | None:
        """Why this run was halted (a guard or a kill, before a node or inside one), if it was."""
        return self._halted[1] if self._halted is not None else self._halted_inside

    def _new_row(self, node: str, step: int, task: TaskKey | None = None) -> _Row:
        row = _Row(
            ledger_id=uuid.uuid4().hex,
            thread_id=self.thread_id,
            graph=self.graph,
            run_id=self.run_id,
            step=step,
            node=node,
            attempt=1,
            status="started",
            started_at=_now(),
            actor=self.actor,
        )
        if task is not None:
            row.task_id, row.task_path = task.task_id or None, task.path or None
            row.checkpoint_ns = task.checkpoint_ns
        self._rows.append(row)
        self._dirty[row.ledger_id] = row
        return row

    async def _write(self, query: Statement | None = None) -> list[Row]:
        """Write every changed row, then run `query`: one relaxed round trip."""
        rows = list(self._dirty.values())
        self._dirty.clear()
        write = asyncio.ensure_future(
            self.db.batch(row_writes(rows, self.db.kind), query, relaxed=True)
        )
        try:
            # a kill cancels the run, not this write: it finishes, so whether its rows are in
            # the database stays known (a row inserted twice would fail the run's last write)
            result = await asyncio.shield(write)
        except BaseException:
            await asyncio.wait([write])
            if write.cancelled() or write.exception() is not None:
                for row in rows:  # written with the next write instead
                    self._dirty.setdefault(row.ledger_id, row)
            else:
                for row in rows:
                    row.written = True
            raise
        for row in rows:
            row.written = True
        return result

    async def _rows_and_kill_check(self) -> list[Row]:
        """Write the rows, then read the pending kills: one round trip for the nodes starting now.

        Nodes that start while a trip is under way (the tasks of a `Send` fan-out, parallel
        branches, subgraphs running side by side) wait for the next one together, which carries
        all their `started` rows and one kill read (a group commit): every node's row is
        written, and the kills read, after it started and before its body runs, in as few
        trips as the database's pace allows.
        """
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[list[Row]] = loop.create_future()
        self._waiting.append(answer)  # its own: a node cancelled (a kill) drops only its own
        if self._trips is None:
            self._trips = loop.create_task(self._make_trips())
        return await answer

    async def _make_trips(self) -> None:
        """Make round trips while nodes wait for one (its own task: a kill does not cancel it)."""
        try:
            while self._waiting:
                await self._trip()
        finally:
            self._trips = None

    async def _trip(self) -> None:
        """One round trip: the changed rows, then the kill read, for the nodes waiting now.

        It takes its rows, and the nodes it answers, only once the database is ready for it:
        nodes that started while it waited for the connection or the file's write lock go
        with it instead of waiting for the next.
        """
        taken: list[_Row] = []
        answers: list[asyncio.Future[list[Row]]] = []

        def writes() -> list[Statement]:
            answers.extend(self._waiting)
            self._waiting.clear()
            taken.extend(self._dirty.values())
            self._dirty.clear()
            return row_writes(taken, self.db.kind)

        try:
            kills = await self.db.batch(writes, self._kill_query, relaxed=True)
        except BaseException as error:  # the waiting nodes raise it
            for row in taken:  # written with the next write instead
                self._dirty.setdefault(row.ledger_id, row)
            if not answers:  # it failed before taking them
                answers.extend(self._waiting)
                self._waiting.clear()
            for answer in answers:
                if not answer.done():
                    answer.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for row in taken:
            row.written = True
        for answer in answers:
            if not answer.done():
                answer.set_result(kills)

    async def _trips_done(self) -> None:
        """Wait for the round trips under way (before the run's last write)."""
        while self._trips is not None:
            await asyncio.wait([self._trips])

    def on_capability_call(
        self,
        node: str,
        step: int,
        *,
        capability: str,
        provider: str,
        version: str,
        routing_reason: str,
        tokens: int,
        cost: Decimal,
        task: str | None = None,
    ) -> None:
        """A node called a capability: remember it for the node's row, count it in the guard.

        `task` is the calling task's `langgraph_checkpoint_ns` (it tells `Send` tasks apart).
        """
        self.guard.record_model_call(tokens, cost)
        row = self._row_of(node, step, task)
        if row is not None:
            row.capability, row.provider, row.provider_version = capability, provider, version
            row.routing_reason = routing_reason
            row.tokens += tokens
            row.cost_usd = str(Decimal(row.cost_usd) + cost)

    def _row_of(self, node: str, step: int, task: str | None) -> _Row | None:
        if task:
            return self._by_task.get(task)
        return self._by_node.get((node, step))

    def on_human_answer(
        self, node: str, step: int, answer: dict[str, Any], task: str | None = None
    ) -> None:
        """A node's question got a valid answer (`waypoint.hitl.ask_human`): keep it on its row."""
        row = self._row_of(node, step, task)
        if row is not None:
            row.human_decision = json.dumps(answer, default=str, sort_keys=True)

    def saved(
        self, config: RunnableConfig, metadata: CheckpointMetadata, saved: RunnableConfig
    ) -> None:
        """The saver saved a checkpoint: if it is this run's step N, step N's rows are committed.

        The new statuses are written with the next node's row, or when the run ends.
        """
        if (config.get("metadata") or {}).get(RUN_KEY) != self.run_id:
            return
        checkpoint_ns = str(config["configurable"].get("checkpoint_ns") or "")
        if not checkpoint_ns:
            self._observed = True
            self.last_saved = saved
        step = int(metadata.get("step", -1))
        checkpoint_id = str(saved["configurable"]["checkpoint_id"])
        for row in self._rows:  # a subgraph's rows are committed by its own checkpoints
            if row.step == step and row.checkpoint_ns == checkpoint_ns and row.status in PENDING:
                row.status, row.checkpoint_id = "committed", checkpoint_id
                self._dirty[row.ledger_id] = row

    # -- around each node ----------------------------------------------------------------

    async def on_chain_start(
        self, serialized: Any, inputs: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Before a node's body: guards, its `started` row and the kill switch, one round trip."""
        metadata = kwargs.get("metadata") or {}
        node = metadata.get("langgraph_node")
        if not node or kwargs.get("name") != node or str(node).startswith("__"):
            return
        step = int(metadata.get("langgraph_step", -1))
        task = task_key(metadata)
        # each task is one invocation (a `Send` task, a branch, a subgraph's node); the same
        # task started again is a retry of it (LangGraph keeps the task id across retries)
        key = task.task_ns or f"{node}@{step}"
        again = self._halted_again(key, node)
        if again is not None:
            # the same task, halted before its body, asked again: the runner re-ran the step
            # to record a kill that cancelled it (`runner.execute`); still one invocation
            raise GuardHalt(again)
        attempt = self._attempts.get(key, 0) + 1
        self._attempts[key] = attempt
        state = inputs.model_dump(mode="json") if isinstance(inputs, BaseModel) else inputs
        digest = fingerprint(without_keys(state, self.hidden))  # the loop rule's fingerprint too
        superstep = f"{task.checkpoint_ns}@{step}"
        halt = self.guard.before_node(node, digest, superstep) if attempt == 1 else None
        if self._halted is not None and self._halted[0] != superstep:
            # a task of an earlier step was halted: nothing after it runs (its branch's
            # siblings already running finish; a fan-out's other tasks are checked each)
            halt = self._halted[1].model_copy(update={"node": node})
        row = self._new_row(node, step, task)
        row.attempt, row.input_digest = attempt, digest
        if halt is None and self._kill is None and self.stop is not None:
            self._kill = self.stop.kill  # a kill the watcher saw: no need to ask
        if halt is None and self._kill is None:
            try:
                kills = await self._rows_and_kill_check()
            except asyncio.CancelledError:
                landed = self.stop.halt(node) if self.stop is not None else None
                if landed is not None and self.stop is not None and self.stop.cancelled:
                    # the kill cancelled the run while this task waited for its check: it is
                    # halted before its body, and the runner's re-run of the step adds no row
                    self._halt_row(row, key, superstep, landed)
                raise
            self._kill = kills[0] if kills else None
        if halt is None and self._kill is not None:
            kill = self._kill
            halt = Halt(kind="kill", reason=kill["reason"], node=node, by=kill["requested_by"])
        if halt is not None:  # the halted row is written with the halt's checkpoint
            self._halt_row(row, key, superstep, halt)
            raise GuardHalt(halt)
        row.started = time.monotonic()
        if self.stop is not None and node in self.stop.sync_nodes:
            row.sync = True
            self.stop.sync_running += 1
        self._open[run_id] = row
        self._by_node[(node, step)] = row
        row.key = key
        self._by_task[key] = row

    def _halted_again(self, key: str, node: str) -> Halt | None:
        """The halt of a task this run halted before its body already, if it was."""
        row = self._halted_rows.get(key)
        if row is None:
            return None
        landed = self.stop.halt(node) if self.stop is not None else None
        if landed is not None:
            return landed
        return self._halted[1].model_copy(update={"node": node}) if self._halted else None

    def _halt_row(self, row: _Row, key: str, superstep: str, halt: Halt) -> None:
        """Mark a task's row halted before its body (once per task: `_halted_rows`)."""
        if self._halted is None:
            self._halted = (superstep, halt)
        row.status, row.error_class = "halted", "GuardHalt"
        row.error_message = f"{halt.kind}: {halt.reason}"
        self._dirty[row.ledger_id] = row
        self._halted_rows[key] = row

    def _finish(self, run_id: UUID, status: str, **fields: Any) -> None:
        """The node's row is finished; it is written with the next node's row or at the end."""
        row = self._open.pop(run_id, None)
        if row is None:
            return
        if self._by_node.get((row.node, row.step)) is row:
            del self._by_node[(row.node, row.step)]
        if self._by_task.get(row.key) is row:
            del self._by_task[row.key]
        if row.sync and self.stop is not None:
            self.stop.sync_running -= 1
        row.status = status
        row.ended_at = _now()
        row.latency_ms = round((time.monotonic() - row.started) * 1000, 3)
        for name, value in fields.items():
            setattr(row, name, value)
        self._dirty[row.ledger_id] = row

    async def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """The node returned; its writes are not checkpointed yet."""
        if run_id not in self._open:
            return
        output = outputs.update if isinstance(outputs, Command) else outputs
        gate, passed = _gate(output)
        digest, summary = _digest_and_summary(output, self.hidden)
        self._finish(
            run_id,
            "returned",
            output_digest=digest,
            summary=summary,
            gate=gate,
            gate_passed=None if passed is None else int(passed),
        )

    async def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """The node raised (an interrupt is a human step, not an error)."""
        if run_id not in self._open:
            return
        if isinstance(error, GuardHalt) and self._halted_inside is None:
            self._halted_inside = error.halt  # a guard or a kill stopped the node's body
        kill = self.stop.kill if self.stop is not None else None
        if isinstance(error, asyncio.CancelledError) and kill is not None:
            self._finish(
                run_id,
                "error",
                error_class="Killed",
                error_message=f"cancelled by a kill ({kill['requested_by']}): {kill['reason']}"[
                    :500
                ],
            )
            return
        if isinstance(error, GraphInterrupt):
            node = self._open[run_id].node
            for asked in error.args[0] if error.args else ():
                if isinstance(asked, Interrupt) and asked.id:  # a subgraph's own node first
                    self.asked_by.setdefault(asked.id, node)
            # LangGraph keeps no checkpoint for an interrupted step: the node runs again on resume
            self._finish(run_id, "interrupted", summary="asked a human; waiting")
            return
        self._finish(
            run_id, "error", error_class=type(error).__name__, error_message=str(error)[:500]
        )

    # -- after the run -------------------------------------------------------------------

    async def finish(self, stores: Stores, *, fence: int | None = None) -> bool:
        """After the run: write what is left and settle every pending row of the thread.

        When the saver reported this run's checkpoints, its rows are settled already (a row
        still pending had no checkpoint: `not_committed`); one statement writes them, counts
        rows a run that died left pending, and reads the thread's fencing token, and only
        those rows make `reconcile` read checkpoints. Otherwise `reconcile` settles every row.

        `fence`: the token the run held its thread with. If the thread's token moved on (another
        writer took the thread over), only this run's own rows are written, nothing of the
        other writer's is settled, and this returns False.
        """
        await self._trips_done()
        if self._observed:
            for row in self._rows:
                if row.status in PENDING:
                    row.status = "not_committed"
                    self._dirty[row.ledger_id] = row
        found = await self._write(
            (
                "SELECT (SELECT count(*) FROM waypoint_ledger WHERE thread_id = :t "
                "AND run_id <> :run AND status IN ('started', 'returned', 'error')) AS pending, "
                "(SELECT fence FROM waypoint_thread_holders WHERE thread_id = :t) AS fence",
                {"t": self.thread_id, "run": self.run_id},
            )
        )
        if fence is not None and (not found or found[0]["fence"] != fence):
            if not self._observed:
                await reconcile(stores, self.thread_id, run_id=self.run_id)
            return False
        if not self._observed or (found and int(found[0]["pending"])):
            await reconcile(stores, self.thread_id)
        return True

    async def finish_served(self) -> None:
        """After a run a server started: write what is left, committing what can be checked.

        The server's saver does not report its checkpoints; where they are in this database
        (matched by the server's run id), rows are settled against them. Where none of this
        run's are (the server keeps them elsewhere), rows are left as they are.
        """
        await self._trips_done()
        try:
            links = await tables_in(self.db).links_where(
                self.thread_id, SERVER_RUN_KEY, [self.run_id]
            )
        except (sqlite3.OperationalError, psycopg.errors.UndefinedTable):
            links = []  # no checkpoint tables in this database
        written = written_steps(
            [(k.checkpoint_id, k.checkpoint_ns, k.metadata) for k in links], SERVER_RUN_KEY
        )
        for row in self._rows if written else ():
            if row.status in PENDING:
                checkpoint_id = written.get((self.run_id, row.checkpoint_ns, row.step))
                row.status = "committed" if checkpoint_id else "not_committed"
                row.checkpoint_id = checkpoint_id
                self._dirty[row.ledger_id] = row
        if self._dirty:
            await self._write()


RUN_KEY = "waypoint_run"
"""Checkpoint metadata naming the ledger run that wrote the checkpoint (set by the runner)."""
SERVER_RUN_KEY = "run_id"
"""Checkpoint metadata naming a LangGraph server's run (its configurable `run_id`), which is
the ledger run id of the runs a server starts (`waypoint.served_runs`)."""


Written = dict[tuple[str, str, int], str]
"""Checkpoint id by (run, namespace of the graph that saved it, step)."""


async def _written_by(stores: Stores, thread_id: str, runs: set[str]) -> Written:
    """The checkpoints these runs wrote, subgraphs' too (oldest wins)."""
    tables = tables_for(stores)
    written: Written = {}
    for key in (SERVER_RUN_KEY, RUN_KEY):  # the runner's tag wins where both are there
        if tables is not None:
            links = await tables.links_where(thread_id, key, runs)
            tagged = [(link.checkpoint_id, link.checkpoint_ns, link.metadata) for link in links]
        else:
            tagged = []
            for run in runs:  # no `checkpoint_ns`: every namespace
                async for saved in stores.checkpointer.alist(
                    {"configurable": {"thread_id": thread_id}}, filter={key: run}
                ):
                    namespace = str(saved.config["configurable"].get("checkpoint_ns") or "")
                    tagged.append(
                        (str(saved.checkpoint["id"]), namespace, dict(saved.metadata or {}))
                    )
        written.update(written_steps(tagged, key))
    return written


def written_steps(tagged: list[tuple[str, str, dict[str, Any]]], key: str) -> Written:
    """Checkpoint id by (run named under `key`, namespace, step), from checkpoints newest first."""
    written: Written = {}
    for checkpoint_id, namespace, metadata in tagged:  # newest first: older ones overwrite
        if metadata.get("step") is not None and metadata.get(key) is not None:
            written[(str(metadata[key]), namespace, int(metadata["step"]))] = checkpoint_id
    return written


async def reconcile(stores: Stores, thread_id: str, *, run_id: str | None = None) -> None:
    """Mark pending rows of a thread committed (their checkpoint exists) or not_committed.

    Each checkpoint carries the run that wrote it in its metadata (`RUN_KEY` for the runner's
    runs, `SERVER_RUN_KEY` for a server's), so a row's checkpoint is the one of its run and
    step: metadata queries only, no state is rebuilt, and every verdict is written in one
    batch. Rows of earlier runs that died are settled too, unless `run_id` names the one run
    whose rows to settle.
    """
    rows = await stores.db.fetchall(
        "SELECT ledger_id, run_id, checkpoint_ns, step FROM waypoint_ledger WHERE thread_id = :t "
        "AND status IN ('started', 'returned', 'error')"
        + ("" if run_id is None else " AND run_id = :run"),
        {"t": thread_id, "run": run_id},
    )
    if not rows:
        return
    written = await _written_by(stores, thread_id, {str(row["run_id"]) for row in rows})
    verdicts: list[Statement] = []
    for row in rows:
        match = written.get((str(row["run_id"]), str(row["checkpoint_ns"] or ""), int(row["step"])))
        verdicts.append(
            (
                "UPDATE waypoint_ledger SET status = :status, checkpoint_id = :cid "
                "WHERE ledger_id = :id",
                {
                    "status": "committed" if match else "not_committed",
                    "cid": match,
                    "id": row["ledger_id"],
                },
            )
        )
    await stores.db.batch(verdicts, relaxed=True)

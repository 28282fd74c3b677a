"""Run, resume and inspect threads of the graphs listed in `langgraph.json`.

The command line, the demo and the tests all go through here. Input and answers are validated
before the database is touched, so bad input writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import getpass
import json
import os
import sqlite3
import typing
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
import typing_extensions
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, Durability, Interrupt, StateSnapshot
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python

from waypoint.actors import acting_as, answering_as, runner_actor, runner_role
from waypoint.capabilities import flush_health, registry
from waypoint.config import load_config, load_plugins
from waypoint.contract import Status, status_of
from waypoint.effect_plan import PlannedEffect
from waypoint.errors import BadInput, DatabaseUnavailable, Halted, ThreadTakenOver
from waypoint.faults import pause_callbacks
from waypoint.guards import Budgets, GuardHalt, RunGuard, set_guard, set_guard_reset
from waypoint.handoffs import Pending, escalated_choice, escalated_questions
from waypoint.hitl import is_hitl_request, parse_response
from waypoint.input_checks import (
    MAX_JSON_DEPTH,
    MAX_SHOWN,
    check_count,
    check_id,
    check_json_value,
    check_text,
    check_thread_id,
    shown,
)
from waypoint.kill import record_override, refuse_if_killed
from waypoint.kill_watch import RunStop, reset_stop, set_stop, sync_nodes
from waypoint.ledger import (
    RUN_KEY,
    LedgerRecorder,
    set_recorder,
    set_recorder_reset,
)
from waypoint.model_guard import ModelCallGuard
from waypoint.persistence.observed_savers import reset_observer, set_observer
from waypoint.persistence.sql import Database
from waypoint.persistence.stores import Stores, open_stores
from waypoint.persistence.thread_lock import hold_thread
from waypoint.persistence.writer_fence import (
    current_fence,
    fence_metadata,
    is_fence_refusal,
    taken_over,
)
from waypoint.policy import admit_context
from waypoint.roles import ROLES_ENV, RoleConfigError, may_review
from waypoint.state_versions import bring_up_to_date
from waypoint.streaming import current_sink, forward
from waypoint.thread_index import index_thread, summary_of
from waypoint.tracing import node_spans
from waypoint.workflows import Workflow, load_workflow, workflow_names

INTERRUPT, RESUME = "__interrupt__", "__resume__"
"""Channel names of pending interrupt and resume writes in a checkpoint (LangGraph made its own
constants private in 1.0)."""

EXIT_CODES: dict[Status, int] = {
    "completed": 0,
    "failed": 1,
    "incomplete": 1,
    "waiting": 3,
    "halted": 4,
}


@dataclass
class PendingInterrupt:
    """A question waiting for a human."""

    id: str
    node: str
    value: Any


@dataclass
class ThreadReport:
    """Where a thread stands after a command."""

    thread_id: str
    graph: str
    status: Status
    checkpoint_id: str | None
    next: list[str]
    values: dict[str, Any]
    interrupts: list[PendingInterrupt] = field(default_factory=list)
    planned_effects: list[PlannedEffect] = field(default_factory=list)
    """The side effects a replay allowed to act may perform (`waypoint.effect_plan`)."""

    @property
    def exit_code(self) -> int:
        """The command line's exit status for this state."""
        return EXIT_CODES[self.status]

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready summary (for `--json`)."""
        return {
            "thread_id": self.thread_id,
            "graph": self.graph,
            "status": self.status,
            "exit_code": self.exit_code,
            "checkpoint_id": self.checkpoint_id,
            "next": self.next,
            "interrupts": [{"id": i.id, "node": i.node, "value": i.value} for i in self.interrupts],
            "values": self.values,
            **(
                {"planned_effects": [e.as_json() for e in self.planned_effects]}
                if self.planned_effects
                else {}
            ),
        }


MAX_LISTED_PROBLEMS = 8
"""Problems one `BadInput` lists before it says how many more there are."""


@functools.cache
def _adapter(schema: Any) -> TypeAdapter[Any]:
    """Pydantic's validator for a schema that is not a model (a plain graph's `TypedDict`).

    Pydantic refuses `typing.TypedDict` before Python 3.12: the same keys are rebuilt as a
    `typing_extensions.TypedDict` (each key required or not, as declared).
    """
    if typing.is_typeddict(schema) and type(schema).__module__ == "typing":
        hints = typing.get_type_hints(schema, include_extras=True)
        optional: frozenset[str] = getattr(schema, "__optional_keys__", frozenset())
        fields = {
            key: typing_extensions.NotRequired[hint] if key in optional else hint
            for key, hint in hints.items()
        }
        return TypeAdapter(typing_extensions.TypedDict(schema.__name__, fields))  # type: ignore[operator]
    return TypeAdapter(schema)


def _expected_fields(model: Any, loc: tuple[Any, ...]) -> list[str] | None:
    """The field names of the (nested) model at `loc`, if `loc` leads to one."""
    if typing.is_typeddict(model) and not loc:
        return list(typing.get_type_hints(model))
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        found = current.model_fields.get(str(part))
        if found is None:
            return None
        annotation = found.annotation
        models = [
            arg
            for arg in (annotation, *typing.get_args(annotation))
            if isinstance(arg, type) and issubclass(arg, BaseModel)
        ]
        current = models[0] if models else None
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [info.alias or name for name, info in current.model_fields.items()]
    return None


def _problem(model: Any, error: Any, what: str) -> tuple[str, str]:
    """One pydantic error as `(field path, "what.path: message")`."""
    loc = tuple(error["loc"])
    path = ".".join(str(part)[:MAX_SHOWN] for part in loc) or what
    where = f"{what}.{path}" if loc else what
    if error["type"] == "extra_forbidden":
        expected = _expected_fields(model, loc[:-1])
        hint = f" (expected one of {', '.join(expected)})" if expected else ""
        return path, f"{where}: unknown field{hint}"
    if error["type"] == "missing":
        return path, f"{where}: {error['msg']}"
    message = str(error["msg"])
    if len(message) > 2 * MAX_SHOWN:
        message = message[: 2 * MAX_SHOWN] + "…"
    return path, f"{where}: {message} (got {shown(error.get('input'))})"


def validate(model: Any, data: Any, *, what: str) -> Any:
    """Validate `data`; a failure becomes `BadInput` listing every problem at once.

    `model` is a pydantic model (its instance is returned) or any type pydantic validates, such
    as a plain graph's `TypedDict` state (a dict is returned; unknown keys are refused too).
    Each problem names its field (`input.customer_id`) and what was expected; an unknown key is
    called so, with the fields that are expected. `BadInput.field` names the first one. Text a
    database cannot hold and over-deep nesting are refused before the schema is consulted.
    """
    if not isinstance(data, Mapping):
        raise BadInput(f"{what}: expected a JSON object, got {type(data).__name__}", field=what)
    check_json_value(data, what)
    problems: list[tuple[str, str]] = []
    if typing.is_typeddict(model):  # pydantic ignores a TypedDict's unknown keys: not here
        known = list(typing.get_type_hints(model))
        expected = f"unknown field (expected one of {', '.join(known)})"
        problems = [
            (str(key), f"{what}.{str(key)[:MAX_SHOWN]}: {expected}")
            for key in data
            if key not in known
        ]
    validated: Any = None
    try:
        if isinstance(model, type) and issubclass(model, BaseModel):
            validated = model.model_validate(data)
        else:
            validated = _adapter(model).validate_python(dict(data))
    except ValidationError as exc:
        problems += [_problem(model, error, what) for error in exc.errors()]
    if problems:
        listed = [text for _, text in problems[:MAX_LISTED_PROBLEMS]]
        if len(problems) > MAX_LISTED_PROBLEMS:
            listed.append(f"and {len(problems) - MAX_LISTED_PROBLEMS} more problem(s)")
        raise BadInput("; ".join(listed), field=problems[0][0])
    return validated


def validate_context(workflow: Workflow, raw: Mapping[str, Any] | None) -> BaseModel:
    """Validate a run context, including its `model` setting, before anything is written.

    Raises:
        BadInput: an invalid setting, or a `model` this installation cannot build (an unknown
            provider, or its package not installed).
    """
    context: BaseModel = validate(workflow.context_schema, dict(raw or {}), what="context")
    check_context_model(context)
    return context


def check_context_model(context: BaseModel) -> None:
    """The context's `model` setting names a model this installation can build.

    Raises:
        BadInput: an unknown provider, or its package not installed.
    """
    model = getattr(context, "model", None)
    if isinstance(model, str) and model:
        try:
            registry.check_model(model)
        except ValueError as exc:
            raise BadInput(f"context.model: {exc}", field="model") from exc


MAX_INTEGER_DIGITS = 64
"""Longest integer accepted in JSON input (Python refuses to convert past 4,300 digits)."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows; send a plain decimal")


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ValueError(
            f"a number of {len(digits):,} digits is too long (at most {MAX_INTEGER_DIGITS})"
        )
    return int(digits)


def parse_json(text: str, *, what: str) -> Any:
    """Parse JSON given on the command line; malformed JSON is `BadInput`.

    Also refused: `NaN` and `Infinity` (Python's parser accepts them, JSON does not), integers
    too long to convert, nesting deeper than `MAX_JSON_DEPTH`, and text a database cannot hold.
    """
    check_text(text, what)
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{what}: malformed JSON ({exc.msg} at char {exc.pos})", field=what) from exc
    except ValueError as exc:
        raise BadInput(f"{what}: {exc}", field=what) from exc
    except RecursionError as exc:
        raise BadInput(
            f"{what}: nested deeper than {MAX_JSON_DEPTH} levels; send a flatter value", field=what
        ) from exc
    check_json_value(value, what)
    return value


def check_configuration() -> None:
    """Import plugins and validate provider routes before anything runs (bad config: exit 2).

    Every workflow in `langgraph.json` is imported first: `waypoint.toml` routes the
    capabilities of all of them, not only of the graph being run.
    """
    load_plugins()
    names = workflow_names()
    for name in names:
        load_workflow(name)
    registry.validate_config()
    for name in load_config().daily_budgets:
        if name not in names:
            raise BadInput(
                f"config: daily_budgets.{name}: unknown workflow; expected one of "
                f"{', '.join(sorted(names))}",
                field=f"daily_budgets.{name}",
            )


def actor() -> str:
    """Who acts: `acting_as`'s actor if set, else `WAYPOINT_ACTOR`, else the OS user."""
    return runner_actor() or os.environ.get("WAYPOINT_ACTOR") or getpass.getuser()


def _config(thread_id: str, extra: Mapping[str, Any] | None = None) -> RunnableConfig:
    configurable: dict[str, Any] = {"thread_id": thread_id}
    configurable.update(extra or {})
    config: RunnableConfig = {"configurable": configurable}
    if fenced := fence_metadata(thread_id):  # inside the writer lock: what it writes is fenced
        config["metadata"] = fenced
    callbacks = pause_callbacks()
    if callbacks:
        config["callbacks"] = callbacks
    return config


def step_cut_off(snapshot: StateSnapshot) -> bool:
    """Whether the checkpoint's step was cut off: tasks finished, their step not saved."""
    return any(task.result is not None and not task.interrupts for task in snapshot.tasks)


def report_from_snapshot(
    thread_id: str,
    graph: str,
    snapshot: StateSnapshot,
    handler_interrupts: tuple[Interrupt, ...] = (),
) -> ThreadReport:
    """Classify a checkpoint: waiting, failed, incomplete, halted or completed."""
    values = dict(snapshot.values) if isinstance(snapshot.values, Mapping) else {}
    by_id = {intr.id: task.name for task in snapshot.tasks for intr in task.interrupts}
    # `snapshot.interrupts` also holds those raised by an error handler (a failure ladder's
    # escalation), which belong to no regular task: name the node that failed instead.
    interrupts = [
        PendingInterrupt(
            id=intr.id,
            node=by_id.get(intr.id)
            or str((intr.value or {}).get("action_requests", [{}])[0].get("args", {}).get("node"))
            if isinstance(intr.value, dict)
            else by_id.get(intr.id, "?"),
            value=intr.value,
        )
        for intr in {i.id: i for i in (*snapshot.interrupts, *handler_interrupts)}.values()
    ]
    checkpoint_id = snapshot.config.get("configurable", {}).get("checkpoint_id")
    status = status_of(
        values,
        waiting=bool(interrupts),
        pending=bool(snapshot.next),
        # Some tasks of the step saved their writes, but the step's checkpoint never followed
        # (the process died in between): `next` no longer lists them and the values already
        # show their writes, yet nothing after them ran. Not finished, whatever they say.
        cut_off=step_cut_off(snapshot),
        started=checkpoint_id is not None,
    )
    return ThreadReport(
        thread_id=thread_id,
        graph=graph,
        status=status,
        checkpoint_id=checkpoint_id,
        next=list(snapshot.next),
        values=values,
        interrupts=interrupts,
    )


async def current_report(
    graph: CompiledStateGraph[Any, Any, Any, Any], thread_id: str, graph_name: str
) -> ThreadReport:
    """The thread's latest state as a report, including interrupts raised by error handlers.

    LangGraph's `get_state` omits an interrupt raised inside an `error_handler` (a failure
    ladder's escalation); it is in the checkpoint's pending writes, so read it from there.
    """
    config = _config(thread_id)
    snapshot = await graph.aget_state(config)
    extra: tuple[Interrupt, ...] = ()
    saver = graph.checkpointer
    if isinstance(saver, BaseCheckpointSaver) and snapshot.next:
        saved = await saver.aget_tuple(config)
        answered = (
            {w[0] for w in (saved.pending_writes or []) if w[1] == RESUME} if saved else set()
        )
        extra = tuple(
            intr
            for task_id, channel, value in (saved.pending_writes or [] if saved else [])
            if channel == INTERRUPT and task_id not in answered
            for intr in (value if isinstance(value, list | tuple) else [value])
            if isinstance(intr, Interrupt)
        )
    return report_from_snapshot(thread_id, graph_name, snapshot, extra)


async def _index_row(db: Database, thread_id: str) -> dict[str, Any] | None:
    return await db.fetchone(
        "SELECT thread_id, graph, status, context, created_at, updated_at "
        "FROM waypoint_threads WHERE thread_id = :thread_id",
        {"thread_id": thread_id},
    )


async def _index_create(
    db: Database, thread_id: str, graph: str, context: Mapping[str, Any]
) -> None:
    """Index the thread before its first step runs, so a crash leaves it findable."""
    now = datetime.now(UTC).isoformat()
    await db.execute(
        "INSERT INTO waypoint_threads (thread_id, graph, status, created_at, updated_at, "
        "summary, context) VALUES (:thread_id, :graph, 'running', :now, :now, '{}', :context)",
        {
            "thread_id": thread_id,
            "graph": graph,
            "now": now,
            "context": json.dumps(dict(context), default=str),
        },
    )


async def _index_upsert(db: Database, report: ThreadReport) -> None:
    """The thread index and the thread's handoffs to a human, after a command, in one trip."""
    await index_thread(
        db,
        thread_id=report.thread_id,
        graph=report.graph,
        status=report.status,
        summary=summary_of(load_workflow(report.graph).state_schema, report.values),
        pending=[Pending(i.id, i.node, i.value) for i in report.interrupts],
        actor=actor(),
    )


@asynccontextmanager
async def _database_guard(thread_id: str, url: str) -> AsyncIterator[None]:
    """Turn a lost database into a failure that names the thread and how to continue it."""
    try:
        yield
    except (psycopg.OperationalError, PoolTimeout, sqlite3.OperationalError) as exc:
        raise DatabaseUnavailable(
            f"lost the database ({url}) while running thread {thread_id}: "
            f"{type(exc).__name__}: {exc}. Its last checkpoint is kept; once the database is "
            f"back, continue it with `waypoint resume {thread_id}`."
        ) from exc


async def execute(
    stores: Stores,
    workflow: Workflow,
    graph: CompiledStateGraph[Any, Any, Any, Any],
    graph_input: Any,
    config: RunnableConfig,
    context: BaseModel,
    *,
    durability: Durability = "sync",
    lift_guards: bool = False,
    only: Collection[str] | None = None,
) -> None:
    """Run the graph with the run's guard and ledger attached, then settle the ledger's rows.

    `lift_guards` (an override of a halt) runs without budgets; the kill switch still applies.
    `only` stops the run before any node not in it (LangGraph's `interrupt_before`).

    Every command that executes nodes (run, resume, replay) goes through here, so every node
    invocation is checked by the kill switch and the budgets and leaves a ledger row. Inside
    the thread's writer lock, every checkpoint of the run carries its fencing token.

    Raises:
        ThreadTakenOver: the run lost the thread's writer lock and another writer took the
            thread over; the database refused this run's writes from then on, and nothing
            claims it finished (its pending ledger rows are `not_committed`).
    """
    thread_id = str(config["configurable"]["thread_id"])
    fence = current_fence(thread_id)
    budgets = getattr(context, "budgets", None)
    if lift_guards or not isinstance(budgets, Budgets):
        budgets = Budgets()
    guard = RunGuard(budgets)
    stop = RunStop(thread_id=thread_id, graph=workflow.name, sync_nodes=sync_nodes(graph))
    recorder = LedgerRecorder(
        stores.db,
        thread_id=thread_id,
        graph=workflow.name,
        guard=guard,
        actor=actor(),
        state_schema=workflow.state_schema,
        stop=stop,
    )
    existing = config.get("callbacks")
    callbacks: list[Any] = [*existing, recorder] if isinstance(existing, list) else [recorder]
    callbacks += node_spans(workflow.name)  # OpenTelemetry, when an OTLP endpoint is set
    callbacks.append(ModelCallGuard())  # chat models a node calls itself
    run_config: RunnableConfig = {
        **config,
        "callbacks": callbacks,
        # every checkpoint of this run names it, so the ledger finds its checkpoints exactly
        # and, inside the writer lock, its fencing token, which the database checks
        "metadata": {
            **config.get("metadata", {}),
            RUN_KEY: recorder.run_id,
            **fence_metadata(thread_id),
        },
    }
    guard_token, recorder_token = set_guard(guard), set_recorder(recorder)
    observer_token = set_observer(recorder)  # the saver reports each checkpoint it saves
    stop_token = set_stop(stop)
    error: Exception | None = None
    still_held = True
    try:
        stop_before = (
            [n for n in graph.nodes if n not in only and not n.startswith("__")]
            if only is not None
            else None
        )

        async def drive(graph_input: Any, run_config: RunnableConfig) -> None:
            """Run the graph; with `--stream`, the same run driven for its model tokens."""
            sink = current_sink()
            if sink is None:
                await graph.ainvoke(
                    graph_input,
                    run_config,
                    context=context,
                    durability=durability,
                    interrupt_before=stop_before,
                )
                return
            async for part in graph.astream(
                graph_input,
                run_config,
                context=context,
                durability=durability,
                interrupt_before=stop_before,
                stream_mode="messages",
                subgraphs=True,
            ):
                forward(sink, part)

        async with _database_guard(thread_id, stores.url.redacted):
            with acting_as(recorder.actor):
                try:
                    await stop.run(drive(graph_input, run_config), stores.db)
                except asyncio.CancelledError:
                    current = asyncio.current_task()
                    if not stop.cancelled or (current is not None and current.cancelling()):
                        raise  # not (only) the kill: the caller was cancelled
                    # The kill cancelled the node in flight. Its halt is recorded as a kill
                    # before a node is: run again from the run's newest checkpoint, where the
                    # cancelled node is halted before its body (the state says why, exit 4).
                    if recorder.last_saved is not None:
                        graph_input = None
                        run_config = {**run_config, "configurable": {"thread_id": thread_id}}
                    await drive(graph_input, run_config)
    except Exception as exc:
        error = exc
    finally:
        reset_stop(stop_token)
        reset_observer(observer_token)
        set_guard_reset(guard_token)
        set_recorder_reset(recorder_token)
        with contextlib.suppress(Exception):  # a lost database is already being reported
            still_held = await recorder.finish(stores, fence=fence)
        with contextlib.suppress(Exception):  # what this process saw of its providers
            await flush_health(stores.db)
    if fence is not None and (not still_held or (error is not None and is_fence_refusal(error))):
        # Refused at a checkpoint or a side effect, or (a run that only reached an interrupt,
        # which saves no checkpoint) found at the end: either way another writer has the thread.
        if isinstance(error, ThreadTakenOver):
            raise error
        raise await taken_over(stores.db, thread_id, fence) from error
    if isinstance(error, GuardHalt):
        # only a graph with no error handlers lets a guard's halt escape (the functional API's
        # `@entrypoint`; a `StateGraph` gets the ladder's handler, which records the halt)
        halt = error.halt
        raise Halted(
            f"thread {thread_id} was halted ({halt.kind}: {halt.reason}) before {halt.node}; "
            "the graph has no error handler to record it in its state, so the ledger "
            f"(`waypoint audit {thread_id}`) holds it"
        ) from None
    if error is not None:
        raise error


async def _compiled(workflow: Workflow, stores: Stores) -> CompiledStateGraph[Any, Any, Any, Any]:
    return workflow.compile(stores.checkpointer, stores.store)


async def start_run(
    graph_name: str,
    raw_input: Any,
    *,
    thread_id: str | None = None,
    db_url: str | None = None,
    context: Mapping[str, Any] | None = None,
    durability: Durability = "sync",
    check_model: bool = True,
) -> ThreadReport:
    """Validate the input, then run a new thread until it ends or waits for a human.

    Args:
        graph_name: graph name from langgraph.json.
        raw_input: the run's input (checked against the graph's input schema).
        thread_id: the new thread's id (default: a fresh one).
        db_url: database URL (default: `WAYPOINT_DB_URL`, else the SQLite default).
        context: run context (checked against the graph's context schema).
        durability: LangGraph's checkpoint durability.
        check_model: refuse a `model` setting this installation cannot build. Off only to
            re-run a recorded context as it was (eval replay serves the model's answers).

    Raises:
        BadInput: unknown graph, invalid input or context, or a thread id already in use.
        Halted: the graph is killed (`waypoint kill --graph` / `--all`); nothing is written.
    """
    workflow = load_workflow(check_id(graph_name, "graph", what="graph name"))
    check_configuration()
    ticket = validate(workflow.input_schema, raw_input, what="input")
    run_context = admit_context(graph_name, workflow.context_schema, context)
    if check_model:
        check_context_model(run_context)
    if thread_id is not None:
        check_thread_id(thread_id)
    thread_id = thread_id or f"{graph_name}-{uuid.uuid4().hex[:12]}"
    async with open_stores(db_url) as stores, hold_thread(stores.url, stores.db, thread_id):
        await refuse_if_killed(stores.db, graph_name)
        graph = await _compiled(workflow, stores)
        config = _config(thread_id)
        existing = await stores.checkpointer.aget_tuple(config)
        indexed = await _index_row(stores.db, thread_id)
        if existing is None and indexed is not None:
            # An earlier start died before its first checkpoint: nothing to keep, start again.
            await stores.db.execute(
                "DELETE FROM waypoint_threads WHERE thread_id = :thread_id",
                {"thread_id": thread_id},
            )
        elif existing is not None or indexed is not None:
            raise BadInput(
                f"thread: {thread_id!r} already exists; continue it with "
                f"`waypoint resume {thread_id}` or pick another id",
                field="thread",
            )
        await _index_create(stores.db, thread_id, graph_name, run_context.model_dump(mode="json"))
        async with _database_guard(thread_id, stores.url.redacted):  # the thread exists now
            await execute(
                stores,
                workflow,
                graph,
                to_jsonable_python(ticket),
                config,
                run_context,
                durability=durability,
            )
            report = await current_report(graph, thread_id, graph_name)
            await _index_upsert(stores.db, report)
        return report


async def _load(stores: Stores, thread_id: str) -> tuple[Workflow, BaseModel, dict[str, Any]]:
    row = await _index_row(stores.db, thread_id)
    if row is None:
        raise BadInput(
            f"thread: no thread {thread_id!r} in {stores.url.redacted}; "
            "`waypoint threads` lists them",
            field="thread",
        )
    workflow = load_workflow(str(row["graph"]))
    # admitted when the thread started; a policy tightened since then wins
    stored = json.loads(row["context"])
    context = admit_context(workflow.name, workflow.context_schema, stored, clamp=True)
    return workflow, context, row


async def thread_status(thread_id: str, *, db_url: str | None = None) -> ThreadReport:
    """Read where a thread stands."""
    check_thread_id(thread_id)
    async with open_stores(db_url) as stores:
        workflow, _, _ = await _load(stores, thread_id)
        graph = await _compiled(workflow, stores)
        return await current_report(graph, thread_id, workflow.name)


async def _last_good_checkpoint(
    graph: CompiledStateGraph[Any, Any, Any, Any], thread_id: str, failed_node: str
) -> RunnableConfig | None:
    async for snapshot in graph.aget_state_history(_config(thread_id)):
        if failed_node in snapshot.next:
            return snapshot.config
    return None


async def _last_pending_checkpoint(
    graph: CompiledStateGraph[Any, Any, Any, Any], thread_id: str
) -> RunnableConfig | None:
    async for snapshot in graph.aget_state_history(_config(thread_id)):
        if snapshot.next and not any(task.interrupts for task in snapshot.tasks):
            return snapshot.config
    return None


AnswerBuilder = Callable[[PendingInterrupt], Mapping[str, Any]]
"""Builds the HITL response from the pending interrupt (e.g. the action name for an edit)."""


async def mark_running(db: Database, thread_id: str) -> None:
    """Flag the thread `running` in the index before re-executing it, as `run` does.

    If the process dies before the end is recorded, `resume` then knows the last command did
    not finish and does not trust a final checkpoint that merely looks complete.
    """
    await db.execute(
        "UPDATE waypoint_threads SET status = 'running', updated_at = :now "
        "WHERE thread_id = :thread_id",
        {"now": datetime.now(UTC).isoformat(), "thread_id": thread_id},
    )


def _pending(report: ThreadReport, interrupt_id: str | None) -> PendingInterrupt:
    """The question an answer is for: the one named, or the only one waiting.

    Raises:
        BadInput: no question of that id, or several waiting and none named.
    """
    ids = ", ".join(i.id for i in report.interrupts)
    if interrupt_id is not None:
        for pending in report.interrupts:
            if pending.id == interrupt_id:
                return pending
        raise BadInput(
            f"interrupt: no question {interrupt_id!r} waits in thread {report.thread_id}; "
            f"waiting: {ids}",
            field="interrupt",
        )
    if len(report.interrupts) > 1:
        raise BadInput(
            f"interrupt: {len(report.interrupts)} questions wait in thread {report.thread_id}; "
            f"name one with --interrupt ID ({ids})",
            field="interrupt",
        )
    return report.interrupts[0]


def _answer_for(
    report: ThreadReport,
    answer: Mapping[str, Any] | AnswerBuilder,
    interrupt_id: str | None,
) -> Command[Any]:
    """The resume command for a waiting thread, the answer checked against its question.

    Raises:
        BadInput: the thread does not wait for that question, or the answer does not fit it.
    """
    pending = _pending(report, interrupt_id)
    response = dict(answer(pending) if callable(answer) else answer)
    if is_hitl_request(pending.value):
        parse_response(response, pending.value)
    return Command(resume={pending.id: response})


def _not_waiting(report: ThreadReport, snapshot_cut_off: bool) -> BadInput:
    thread_id = report.thread_id
    if report.status == "incomplete" and snapshot_cut_off:
        return BadInput(
            f"thread: {thread_id} is not waiting for a human: the last command stopped after "
            f"its answer was saved; continue it with `waypoint resume {thread_id}`",
            field="thread",
        )
    if report.status == "incomplete":
        return BadInput(
            f"thread: {thread_id} has not asked its question yet (next: "
            f"{', '.join(report.next)}); `waypoint resume {thread_id}` runs it up to the "
            "question, then answer it",
            field="thread",
        )
    return BadInput(
        f"thread: {thread_id} is {report.status}, not waiting for a human; nothing to answer",
        field="thread",
    )


async def _question_dropped_by_update(
    graph: CompiledStateGraph[Any, Any, Any, Any], report: ThreadReport
) -> ThreadReport | None:
    """The report of the checkpoint before the head, if the head's update only dropped a question.

    That is: the head is an `update_state` (a migration, a fork), and every node it has next
    was asking a human at the checkpoint it updated.
    """
    if report.status != "incomplete" or not report.next:
        return None
    head = await graph.aget_state(_config(report.thread_id))
    if (head.metadata or {}).get("source") != "update" or head.parent_config is None:
        return None
    parent = await graph.aget_state(head.parent_config)
    before = report_from_snapshot(report.thread_id, report.graph, parent)
    asking = {i.node for i in before.interrupts}
    if before.status != "waiting" or not set(report.next) <= asking:
        return None
    return before


async def _continue_from(
    stores: Stores,
    graph: CompiledStateGraph[Any, Any, Any, Any],
    report: ThreadReport,
    row: Mapping[str, Any],
    override: str | None,
) -> RunnableConfig:
    """Where a thread given no answer continues from (checked; an override is recorded).

    Raises:
        BadInput: a waiting or completed thread, or no checkpoint to continue from.
        Halted: a halted thread without an override.
    """
    thread_id, name = report.thread_id, report.graph
    run_config = _config(thread_id)
    if report.status == "waiting":
        raise BadInput(
            f"thread: {thread_id} is waiting for a human at {report.interrupts[0].node}; "
            "answer with --approve, --reject, --edit or --respond",
            field="decision",
        )
    elif report.checkpoint_id is None:
        raise BadInput(
            f"thread: {thread_id} stopped before its first checkpoint; start it again with "
            f"`waypoint run {name} --thread {thread_id} --input ...`",
            field="thread",
        )
    elif report.status == "completed" and row["status"] == "running":
        # The last command died before it could record the end, so its final checkpoint
        # is not trusted (a write lost with the connection can leave one that looks
        # finished). Re-run the last step that had work pending; nodes are idempotent.
        restart = await _last_pending_checkpoint(graph, thread_id)
        if restart is not None:
            run_config = _config(thread_id, restart["configurable"])
    elif report.status == "completed":
        raise BadInput(f"thread: {thread_id} already completed", field="thread")
    elif report.status == "halted":
        halt = dict(report.values.get("halt") or {})
        if override is None:
            raise Halted(
                f"thread {thread_id} was halted ({halt.get('kind')}: {halt.get('reason')}) "
                f"before {halt.get('node')}; continue it only with "
                f"`waypoint resume {thread_id} --override --reason TEXT`"
            )
        restart = await _last_good_checkpoint(graph, thread_id, str(halt.get("node", "")))
        if restart is None:
            raise BadInput(f"thread: no checkpoint before {halt.get('node')!r}", field="thread")
        await record_override(stores.db, thread_id, halt, override)
        run_config = _config(thread_id, restart["configurable"])
    elif override is not None:
        raise BadInput(
            f"override: thread {thread_id} is {report.status}, not halted", field="override"
        )
    elif report.status == "failed":
        failed_node = str((report.values.get("failure") or {}).get("node", ""))
        restart = await _last_good_checkpoint(graph, thread_id, failed_node)
        if restart is None:
            raise BadInput(
                f"thread: no checkpoint before the failed node {failed_node!r}", field="thread"
            )
        run_config = _config(thread_id, restart["configurable"])
    return run_config


async def resume_thread(
    thread_id: str,
    answer: Mapping[str, Any] | AnswerBuilder | None = None,
    *,
    db_url: str | None = None,
    durability: Durability = "sync",
    override: str | None = None,
    interrupt_id: str | None = None,
    as_user: str | None = None,
) -> ThreadReport:
    """Answer a pending interrupt, or (no answer) continue a thread that stopped unfinished.

    With `as_user`, that user acts, and must be the one who started the thread, or (for an
    answer only) a reviewer of its workflow (`waypoint.roles`), or the user a question past its
    deadline was escalated to (that question only); the answer records the role.

    A halted thread (a guard or a kill stopped it) continues only with `override`, the reason,
    which is recorded with who gave it. With several questions waiting, `interrupt_id` names
    the one answered.

    A failed thread continues from the checkpoint before the node that failed; an incomplete
    one (a crash, a lost database) from where it stopped. A completed thread, a waiting thread
    given no answer, or an answer the question does not allow is `BadInput`, and nothing is
    written.
    """
    check_thread_id(thread_id)
    if isinstance(answer, Mapping):
        check_json_value(answer, "answer")
    if as_user is not None:
        check_id(as_user, "as", what="user name")
    async with open_stores(db_url) as stores, _database_guard(thread_id, stores.url.redacted):
        workflow, _, _ = await _load(stores, thread_id)  # an unknown thread: refused first
        role = runner_role() or "operator"
        if as_user is not None:
            role, interrupt_id = await _role_of(
                stores.db, thread_id, workflow.name, as_user, answer is not None, interrupt_id
            )
        with acting_as(as_user or actor()), answering_as(role):
            async with hold_thread(stores.url, stores.db, thread_id):
                return await _resume_held(
                    stores,
                    thread_id,
                    answer,
                    durability=durability,
                    override=override,
                    interrupt_id=interrupt_id,
                )


async def _role_of(
    db: Database, thread_id: str, graph: str, user: str, answers: bool, interrupt_id: str | None
) -> tuple[str, str | None]:
    """Under which role `user` may act on the thread (`owner`, `reviewer`, `escalation`).

    Also the question answered: `interrupt_id`, or for an escalated user one handed to them,
    never another of the thread (`handoffs.escalated_choice`).

    Raises:
        BadInput: no such role (field `as`), or an escalated user naming another question, or
            none of several handed to them (field `interrupt`); nothing is written.
    """
    first = await db.fetchone(
        "SELECT actor FROM waypoint_ledger WHERE thread_id = :t ORDER BY started_at LIMIT 1",
        {"t": thread_id},
    )
    if first is not None and first["actor"] == user:
        return "owner", interrupt_id
    try:
        reviews = answers and may_review(user, graph)
    except RoleConfigError as exc:
        raise BadInput(f"as: {exc}", field="as") from None
    if reviews:
        return "reviewer", interrupt_id
    handed = await escalated_questions(db, thread_id, user) if answers else []
    if handed:  # a question past its deadline was handed to this user: that one only
        chosen = escalated_choice(handed, interrupt_id)
        if chosen is None:
            raise BadInput(
                f"interrupt: {user} may answer only the question{'s' if len(handed) > 1 else ''}"
                f" escalated to them in {thread_id} ({', '.join(handed)})"
                + ("" if interrupt_id else "; name one with --interrupt ID"),
                field="interrupt",
            )
        return "escalation", chosen
    started_by = first["actor"] if first is not None else "nobody recorded"
    raise BadInput(
        f"as: {user} may not {'answer' if answers else 'continue'} {thread_id}: it was started "
        f"by {started_by}, and {user} is not a reviewer of {graph} ({ROLES_ENV})"
        + ("" if answers else "; a reviewer may only answer a pending question"),
        field="as",
    )


async def _resume_held(
    stores: Stores,
    thread_id: str,
    answer: Mapping[str, Any] | AnswerBuilder | None,
    *,
    durability: Durability,
    override: str | None,
    interrupt_id: str | None,
) -> ThreadReport:
    """`resume_thread` once the thread is known and its writer lock is held.

    Everything is checked before anything is written: the answer against the question it
    answers, the thread's state against what the command can do.
    """
    workflow, context, row = await _load(stores, thread_id)
    check_configuration()
    graph = await _compiled(workflow, stores)
    config = _config(thread_id)
    report = await current_report(graph, thread_id, workflow.name)
    command: Command[Any] | None = None
    asked_again: ThreadReport | None = None
    if answer is not None:
        if report.status == "waiting":
            command = _answer_for(report, answer, interrupt_id)
        else:
            asked_again = await _question_dropped_by_update(graph, report)
            if asked_again is None:
                snapshot = await graph.aget_state(config)
                raise _not_waiting(report, step_cut_off(snapshot))
            _answer_for(asked_again, answer, interrupt_id)  # the question as it was asked
    elif interrupt_id is not None:
        raise BadInput("interrupt: --interrupt goes with an answer", field="interrupt")
    migrated = await bring_up_to_date(workflow.name, graph, config, workflow.state_schema)
    if answer is not None and (migrated or asked_again is not None):
        # An `update_state` (a migration, a fork) drops a pending question (pitfall 4): the
        # node that was asking runs again, and nothing else, up to its interrupt; then the
        # answer, checked again, goes to the question it asks now.
        chosen = _pending(asked_again or report, interrupt_id).node
        await mark_running(stores.db, thread_id)
        current = await current_report(graph, thread_id, workflow.name)
        await execute(
            stores, workflow, graph, None, config, context, durability=durability, only=current.next
        )
        asked = await current_report(graph, thread_id, workflow.name)
        await _index_upsert(stores.db, asked)
        same = [i.id for i in asked.interrupts if i.node == chosen]
        if asked.status != "waiting" or len(same) != 1:
            raise _not_waiting(asked, False)
        command = _answer_for(asked, answer, same[0])
    run_config = config
    if command is None:
        run_config = await _continue_from(stores, graph, report, row, override)
    await mark_running(stores.db, thread_id)
    await execute(
        stores,
        workflow,
        graph,
        command,
        run_config,
        context,
        durability=durability,
        lift_guards=override is not None,
    )
    report = await current_report(graph, thread_id, workflow.name)
    await _index_upsert(stores.db, report)
    return report


async def list_threads(
    *, db_url: str | None = None, graph: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Threads in the index, newest first.

    Raises:
        BadInput: a `limit` outside 1..`MAX_COUNT`, or a bad graph name.
    """
    check_count(limit, "limit")
    if graph is not None:
        check_id(graph, "graph", what="graph name")
    async with open_stores(db_url) as stores:
        where = "WHERE graph = :graph" if graph else ""
        return await stores.db.fetchall(
            "SELECT thread_id, graph, status, created_at, updated_at, summary "
            f"FROM waypoint_threads {where} ORDER BY updated_at DESC LIMIT :limit",
            {"graph": graph, "limit": limit},
        )

"""The ledger, guards and kill switch for the runs a LangGraph server starts.

The runner attaches a `LedgerRecorder` to every run it starts. A server (`langgraph dev`, Aegra,
a LangGraph deployment) invokes the served graph itself, so the served graph carries
`ServedRuns` (`serve(graph)` in `graphs/…`): a callback that gives each top-level run without a
recorder one of its own, on the database of `WAYPOINT_DB_URL`. Every node then gets its ledger
row, the kill switch and the guards, as under the runner, with two differences:

- a callback cannot see the run's context: the served graph (`GuardedGraph`) puts the run's
  admitted budgets and the authenticated user into the run's metadata, which callbacks see;
- rows are `committed` at the end of the run when the server's checkpoints are in the same
  database (Aegra, a deployment on the same Postgres), matched by the server's `run_id`; when
  they live elsewhere (`langgraph dev` keeps its own) rows stay `returned`: never a success the
  ledger cannot check.

`Workflow.compile` drops this callback: the runner's own recorder records those runs.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, TypeVar
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler
from langgraph.callbacks import GraphCallbackHandler, GraphInterruptEvent
from langgraph.graph.state import CompiledStateGraph

from waypoint.contract import status_of
from waypoint.guarded_graph import ACTOR_KEY, BUDGETS_KEY, GuardedGraph, guarded
from waypoint.guards import Budgets, RunGuard, set_guard
from waypoint.handoffs import Pending
from waypoint.kill_watch import RunStop, set_stop, watcher_of
from waypoint.ledger import HALTING_HANDLERS, LedgerRecorder, current_recorder, set_recorder
from waypoint.model_guard import ModelCallGuard
from waypoint.persistence.stores import database_for_run
from waypoint.thread_index import index_thread, summary_of
from waypoint.tracing import NodeSpans, node_spans

logger = logging.getLogger(__name__)
Graph = TypeVar("Graph", bound=CompiledStateGraph[Any, Any, Any, Any])


class ServedRunRecorder(LedgerRecorder):
    """The recorder of a run a server started (the runner's are plain `LedgerRecorder`s)."""


class ServedRuns(AsyncCallbackHandler, GraphCallbackHandler):
    """Gives each run a server starts a ledger recorder, guards and the kill switch.

    It also keeps the thread index (`waypoint threads`, `kill`, `kpis`) for those runs:
    `running` while they run, then `waiting` (an interrupt), `halted`, `failed` or `completed`.
    """

    run_inline = True
    raise_error = True  # a guard's GuardHalt must stop the node

    def __init__(self, graph: str, state_schema: Any, budgets: Budgets) -> None:
        """One per served graph; it keeps a recorder per run in flight."""
        self.graph = graph
        self.state_schema = state_schema
        self.budgets = budgets
        self._runs: dict[UUID, LedgerRecorder] = {}
        self._nodes: dict[UUID, LedgerRecorder] = {}
        self._waiting: dict[UUID, list[Pending]] = {}

    async def on_chain_start(
        self,
        serialized: Any,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """A run starts (a recorder for it) or one of its nodes does (the recorder's checks)."""
        current = current_recorder()
        if current is not None and not isinstance(current, ServedRunRecorder):
            return  # the runner records this run itself
        if parent_run_id is None:
            metadata = kwargs.get("metadata") or {}
            thread_id = metadata.get("thread_id")
            if thread_id is None:
                return  # no thread: nothing is checkpointed, nothing can be killed
            db = await database_for_run()
            await index_thread(db, thread_id=str(thread_id), graph=self.graph, status="running")
            asked = metadata.get(BUDGETS_KEY)  # the run's admitted budgets (GuardedGraph)
            budgets = Budgets.model_validate(asked) if isinstance(asked, dict) else self.budgets
            # the kill watcher sees a kill while the run goes on: it cancels the node's
            # capability call in flight (the server owns the run's task)
            stop = RunStop(
                thread_id=str(thread_id),
                graph=self.graph,
                loop=asyncio.get_running_loop(),
                cancel_calls=True,
            )
            watcher_of(db).add(stop)
            self._runs[run_id] = ServedRunRecorder(
                db,
                thread_id=str(thread_id),
                graph=self.graph,
                guard=RunGuard(budgets),
                actor=str(metadata.get(ACTOR_KEY) or "server"),
                state_schema=self.state_schema,
                run_id=str(metadata.get("run_id") or run_id),
                stop=stop,
            )
            return
        recorder = self._runs.get(parent_run_id)
        if recorder is None:
            return
        # the node's body runs in this context: its capability calls and side effects count
        # (cleared when the node ends: LangGraph may run a lone task in the run's own context)
        set_guard(recorder.guard)
        set_recorder(recorder)
        set_stop(recorder.stop)
        self._nodes[run_id] = recorder
        try:
            await recorder.on_chain_start(serialized, inputs, run_id=run_id, **kwargs)
        except BaseException:
            self._left(run_id)
            raise

    def _left(self, run_id: UUID) -> LedgerRecorder | None:
        """The node's recorder, forgotten along with the context the node's body ran in."""
        recorder = self._nodes.pop(run_id, None)
        if recorder is not None:
            set_guard(None)
            set_recorder(None)
            set_stop(None)
        return recorder

    async def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A node returned, or the run ended: its rows are written and settled."""
        if (recorder := self._left(run_id)) is not None:
            await recorder.on_chain_end(outputs, run_id=run_id, **kwargs)
        elif (recorder := self._runs.pop(run_id, None)) is not None:
            values: dict[str, Any] = outputs if isinstance(outputs, dict) else {}
            waiting = run_id in self._waiting
            status = status_of(values, waiting=waiting, pending=False, cut_off=False, started=True)
            if status == "completed" and recorder.halted_by is not None:
                status = "halted"  # a graph whose output schema leaves `halt` out of its output
            await self._finish(run_id, recorder, status, values)

    async def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A node raised, or the run did."""
        if (recorder := self._left(run_id)) is not None:
            await recorder.on_chain_error(error, run_id=run_id, **kwargs)
        elif (recorder := self._runs.pop(run_id, None)) is not None:
            await self._finish(run_id, recorder, "failed", {})

    async def on_interrupt(self, event: GraphInterruptEvent) -> None:
        """The run stops to ask a human (LangGraph's graph lifecycle event)."""
        if event.run_id is None or (recorder := self._runs.get(event.run_id)) is None:
            return
        self._waiting[event.run_id] = [
            Pending(i.id, recorder.asked_by.get(i.id), i.value)
            for i in event.interrupts
            if i.id is not None
        ]

    async def _finish(
        self, run_id: UUID, recorder: LedgerRecorder, status: str, values: dict[str, Any]
    ) -> None:
        """Write and settle the run's rows, then the thread's new status.

        The run itself is over and its checkpoints are saved: a database lost now is logged,
        not raised into the server's run (a later run of the thread settles the rows).
        """
        pending = self._waiting.pop(run_id, [])
        if recorder.stop is not None:
            watcher_of(recorder.db).remove(recorder.stop)
        try:
            await recorder.finish_served()
            await index_thread(
                recorder.db,
                thread_id=recorder.thread_id,
                graph=self.graph,
                status=status,
                summary=summary_of(self.state_schema, values) if values else None,
                pending=pending,
                actor=recorder.actor,
                served=True,
            )
        except Exception:
            logger.warning("ledger: could not settle thread %s", recorder.thread_id, exc_info=True)


HALTING_HANDLERS.add(ServedRuns.__name__)


def serve(graph: CompiledStateGraph[Any, Any, Any, Any]) -> GuardedGraph:
    """The graph a server serves: `graph` admitted (`GuardedGraph`) with `ServedRuns` attached.

    `langgraph.json` points each graph at `./waypoint/serving.py:NAME`, which does this for
    every workflow; a graph served already is returned as it is.
    """
    callbacks = (graph.config or {}).get("callbacks")
    attached = callbacks if isinstance(callbacks, list) else []
    if isinstance(graph, GuardedGraph) and any(isinstance(c, ServedRuns) for c in attached):
        return graph
    builder = getattr(graph, "builder", None)  # none for the functional API's entrypoints
    context_schema = getattr(builder, "context_schema", None)
    state_schema = getattr(builder, "state_schema", None)
    budgets = getattr(context_schema(), "budgets", None) if context_schema else None
    served = ServedRuns(
        graph.name, state_schema, budgets if isinstance(budgets, Budgets) else Budgets()
    )
    spans = node_spans(graph.name)
    return guarded(graph).with_config(callbacks=[served, ModelCallGuard(), *spans])


def without_served_runs(graph: Graph) -> dict[str, Any]:
    """`graph`'s config without `ServedRuns` or spans (for a copy the runner drives)."""
    config: dict[str, Any] = dict(graph.config or {})
    callbacks = config.get("callbacks")
    if isinstance(callbacks, list):
        # the runner attaches its own recorder and spans
        config["callbacks"] = [
            c for c in callbacks if not isinstance(c, ServedRuns | NodeSpans | ModelCallGuard)
        ]
    return config

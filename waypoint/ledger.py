"""The audit ledger: one row per node invocation, in the same database as the checkpoints.

`LedgerRecorder` is a callback attached to each run by the runner. Before a node's body runs it
checks the kill switch and the run's guards (a breach raises `GuardHalt`, which the error handler
turns into a halt); it writes a `started` row, fills it in when the node returns or raises, and
after the run `reconcile` marks each row `committed` with the checkpoint holding its writes. A
row whose checkpoint was never written (the process died) becomes `not_committed`: the ledger
never claims a success the checkpoints do not have. Fields marked sensitive in the state schema
(`json_schema_extra={"sensitive": True}`) never reach it.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler
from langgraph.errors import GraphInterrupt
from langgraph.types import Command
from pydantic import BaseModel

from waypoint.checkpoint_tables import tables_for
from waypoint.guards import GuardHalt, Halt, RunGuard, canonical_json, digest_of, fingerprint
from waypoint.kill import pending_kill_query
from waypoint.persistence.sql import Database, Statement
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


@dataclass
class _Open:
    ledger_id: str
    node: str
    step: int
    started: float
    capability: str | None = None
    provider: str | None = None
    provider_version: str | None = None
    routing_reason: str | None = None
    tokens: int = 0
    cost: Decimal = field(default_factory=lambda: Decimal("0"))


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
            and args[0] == LedgerRecorder.__name__
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


class LedgerRecorder(AsyncCallbackHandler):
    """Guards and ledger rows around every node of one run."""

    run_inline = True
    raise_error = True  # a guard's GuardHalt must stop the node, not just be logged

    def __init__(
        self,
        db: Database,
        *,
        thread_id: str,
        graph: str,
        guard: RunGuard,
        actor: str,
        state_schema: type[BaseModel],
    ) -> None:
        """One recorder per command (run)."""
        self.db = db
        self.thread_id = thread_id
        self.graph = graph
        self.guard = guard
        self.actor = actor
        self.run_id = uuid.uuid4().hex
        self.hidden = sensitive_field_names([state_schema])
        self._open: dict[UUID, _Open] = {}
        self._by_node: dict[tuple[str, int], _Open] = {}
        self._attempts: dict[tuple[str, int], int] = {}
        self._finished: list[Statement] = []

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
    ) -> None:
        """A node called a capability: remember it for the node's row, count it in the guard."""
        self.guard.record_model_call(tokens, cost)
        row = self._by_node.get((node, step))
        if row is not None:
            row.capability, row.provider, row.provider_version = capability, provider, version
            row.routing_reason = routing_reason
            row.tokens += tokens
            row.cost += cost

    async def on_chain_start(
        self, serialized: Any, inputs: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Before a node's body: guards, a `started` row and the kill switch, in one round trip.

        The rows of nodes that finished since the last call go in the same transaction.
        """
        metadata = kwargs.get("metadata") or {}
        node = metadata.get("langgraph_node")
        if not node or kwargs.get("name") != node or str(node).startswith("__"):
            return
        step = int(metadata.get("langgraph_step", -1))
        attempt = self._attempts.get((node, step), 0) + 1
        self._attempts[(node, step)] = attempt
        state = inputs.model_dump(mode="json") if isinstance(inputs, BaseModel) else inputs
        digest = fingerprint(without_keys(state, self.hidden))  # the loop rule's fingerprint too
        halt = self.guard.before_node(node, digest) if attempt == 1 else None
        row = _Open(ledger_id=uuid.uuid4().hex, node=node, step=step, started=time.monotonic())
        insert = (
            "INSERT INTO waypoint_ledger (ledger_id, thread_id, graph, run_id, step, node, "
            "attempt, status, input_digest, started_at, actor, error_class, error_message) "
            "VALUES (:id, :thread, :graph, :run, :step, :node, :attempt, :status, :digest, "
            ":now, :actor, :error_class, :error_message)",
            {
                "id": row.ledger_id,
                "thread": self.thread_id,
                "graph": self.graph,
                "run": self.run_id,
                "step": step,
                "node": node,
                "attempt": attempt,
                "status": "halted" if halt else "started",
                "digest": digest,
                "now": datetime.now(UTC).isoformat(),
                "actor": self.actor,
                "error_class": "GuardHalt" if halt else None,
                "error_message": f"{halt.kind}: {halt.reason}" if halt else None,
            },
        )
        finished, self._finished = self._finished, []
        kills = await self.db.batch(
            [*finished, insert], pending_kill_query(self.thread_id), relaxed=True
        )
        if kills:
            kill = kills[0]
            halt = Halt(kind="kill", reason=kill["reason"], node=node, by=kill["requested_by"])
            await self.db.execute(
                "UPDATE waypoint_ledger SET status = 'halted', error_class = 'GuardHalt', "
                "error_message = :message WHERE ledger_id = :id",
                {"id": row.ledger_id, "message": f"kill: {halt.reason}"},
            )
        if halt is not None:
            raise GuardHalt(halt)
        self._open[run_id] = row
        self._by_node[(node, step)] = row

    def _finish(self, run_id: UUID, status: str, **fields: Any) -> None:
        """Queue the node's finished row; it is written with the next node's start or `flush`."""
        row = self._open.pop(run_id, None)
        if row is None:
            return
        self._by_node.pop((row.node, row.step), None)
        self._finished.append(
            (
                "UPDATE waypoint_ledger SET status = :status, ended_at = :now, "
                "latency_ms = :ms, capability = :capability, provider = :provider, "
                "provider_version = :version, routing_reason = :routing, tokens = :tokens, "
                "cost_usd = :cost, output_digest = :out, summary = :summary, gate = :gate, "
                "gate_passed = :passed, human_decision = :human, error_class = :error_class, "
                "error_message = :error WHERE ledger_id = :id",
                {
                    "id": row.ledger_id,
                    "status": status,
                    "now": datetime.now(UTC).isoformat(),
                    "ms": round((time.monotonic() - row.started) * 1000, 3),
                    "capability": row.capability,
                    "provider": row.provider,
                    "version": row.provider_version,
                    "routing": row.routing_reason,
                    "tokens": row.tokens,
                    "cost": str(row.cost),
                    "out": fields.get("out"),
                    "summary": fields.get("summary"),
                    "gate": fields.get("gate"),
                    "passed": fields.get("passed"),
                    "human": fields.get("human"),
                    "error_class": fields.get("error_class"),
                    "error": fields.get("error"),
                },
            )
        )

    async def flush(self) -> None:
        """Write the rows of nodes that finished since the last node started."""
        finished, self._finished = self._finished, []
        if finished:
            await self.db.batch(finished, relaxed=True)

    async def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """The node returned; its writes are not checkpointed yet."""
        if run_id not in self._open:
            return
        output = outputs.update if isinstance(outputs, Command) else outputs
        gate, passed = _gate(output)
        human = output.get("human") if isinstance(output, dict) else None
        digest, summary = _digest_and_summary(output, self.hidden)
        self._finish(
            run_id,
            "returned",
            out=digest,
            summary=summary,
            gate=gate,
            passed=None if passed is None else int(passed),
            human=json.dumps(human, default=str) if isinstance(human, dict) else None,
        )

    async def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """The node raised (an interrupt is a human step, not an error)."""
        if run_id not in self._open:
            return
        if isinstance(error, GraphInterrupt):
            # LangGraph keeps no checkpoint for an interrupted step: the node runs again on resume
            self._finish(run_id, "interrupted", summary="asked a human; waiting")
            return
        self._finish(run_id, "error", error_class=type(error).__name__, error=str(error)[:500])


RUN_KEY = "waypoint_run"
"""Checkpoint metadata naming the ledger run that wrote the checkpoint (set by the runner)."""


async def _written_by(stores: Stores, thread_id: str, runs: set[str]) -> dict[tuple[str, int], str]:
    """Checkpoint id by (run, step), for the checkpoints these runs wrote (oldest wins)."""
    tables = tables_for(stores)
    if tables is not None:
        links = await tables.links_where(thread_id, RUN_KEY, runs)
        tagged = [(link.checkpoint_id, link.metadata) for link in links]
    else:
        tagged = []
        for run in runs:
            async for saved in stores.checkpointer.alist(
                {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}},
                filter={RUN_KEY: run},
            ):
                tagged.append((str(saved.checkpoint["id"]), dict(saved.metadata or {})))
    written: dict[tuple[str, int], str] = {}
    for checkpoint_id, metadata in tagged:  # newest first: older ones overwrite
        if metadata.get("step") is not None:
            written[(str(metadata[RUN_KEY]), int(metadata["step"]))] = checkpoint_id
    return written


async def reconcile(stores: Stores, thread_id: str) -> None:
    """Mark pending rows of a thread committed (their checkpoint exists) or not_committed.

    Each checkpoint carries the run that wrote it (`RUN_KEY` in its metadata), so a row's
    checkpoint is the one of its run and step: one metadata query, no state is rebuilt, and
    every verdict is written in one batch. Rows of earlier runs that died are settled too.
    """
    rows = await stores.db.fetchall(
        "SELECT ledger_id, run_id, step FROM waypoint_ledger WHERE thread_id = :t "
        "AND status IN ('started', 'returned', 'error')",
        {"t": thread_id},
    )
    if not rows:
        return
    written = await _written_by(stores, thread_id, {str(row["run_id"]) for row in rows})
    verdicts: list[Statement] = []
    for row in rows:
        match = written.get((str(row["run_id"]), int(row["step"])))
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

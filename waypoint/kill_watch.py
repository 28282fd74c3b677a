"""A kill that lands while a node runs: the running node is cancelled, not awaited.

While the runner executes a graph, one watcher per database and process polls the kill tables
(every `WAYPOINT_KILL_POLL_SECONDS`, default 0.2 s, one query for every run it watches). When a
kill reaches a watched run (its thread's own, its graph's, or a global one):

- the run's `RunStop` is flagged: the ledger halts the next node before its body without asking
  the database, and the capability layer refuses the next capability call (`check`);
- a capability call a sync node is waiting on is cancelled (`Capability.call_sync`), so the sync
  node is stopped at that call; so is any capability call of a run a server started
  (`waypoint.served_runs`: the server owns the run's task, so its node is halted at the call);
- with no sync node running, the run's task is cancelled: the async node in flight stops at its
  current `await`; an effect transaction it had open rolls back (a transaction commits whole or
  not at all). The runner then records the halt (`waypoint.runner.execute`).

A sync node's own code cannot be interrupted from outside its thread: it is stopped at its next
capability call, or before the next node.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Coroutine
from concurrent.futures import Future
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from waypoint.guards import GuardHalt, Halt
from waypoint.kill import ALL, graph_scope
from waypoint.persistence.sql import Database, Row

T = TypeVar("T")

POLL_SECONDS_ENV = "WAYPOINT_KILL_POLL_SECONDS"
"""How often a process reads the kill tables while it runs a graph (seconds, default 0.2)."""

FORGET_AFTER = timedelta(days=1)
"""A watched run older than this is dropped (a server run whose end was never reported would
keep the poll going for ever); its next node still reads the kill tables itself."""

SINCE_MARGIN = timedelta(minutes=10)
"""Open thread kills older than the oldest watched run by more than this are not read (a run
already halts at its first node on a kill that was open when it started)."""


def poll_seconds() -> float:
    """The watch interval (`WAYPOINT_KILL_POLL_SECONDS`; a bad value falls back to 0.2)."""
    try:
        value = float(os.environ.get(POLL_SECONDS_ENV, "0.2"))
    except ValueError:
        return 0.2
    return value if 0.01 <= value <= 60 else 0.2


@dataclass(eq=False)
class RunStop:
    """One run's stop signal: set by the watcher when a kill reaches the run."""

    thread_id: str
    graph: str
    sync_nodes: frozenset[str] = frozenset()
    """Nodes whose body runs in a worker thread (cancelling the run cannot stop them)."""
    loop: asyncio.AbstractEventLoop | None = None
    kill: Row | None = None
    """The kill that landed (reason, requested_by, requested_at), once it has."""
    cancelled: bool = False
    """Whether the watcher cancelled the run's task (the runner then records the halt)."""
    landed_at: float | None = None
    """`time.monotonic()` when the watcher saw the kill."""
    cancel_calls: bool = False
    """Whether each capability call runs as a task a kill cancels (a server's runs, whose task
    belongs to the server: the node is halted at its call instead)."""
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    sync_running: int = 0
    _task: asyncio.Future[Any] | None = None
    _calls: set[Future[Any] | asyncio.Future[Any]] = field(default_factory=set)

    def halt(self, node: str) -> Halt | None:
        """The halt for `node` if a kill has landed."""
        kill = self.kill
        if kill is None:
            return None
        return Halt(kind="kill", reason=str(kill["reason"]), node=node, by=kill["requested_by"])

    def check(self, node: str) -> None:
        """Refuse to go on once a kill has landed.

        Raises:
            GuardHalt: the run was killed.
        """
        halt = self.halt(node)
        if halt is not None:
            raise GuardHalt(halt)

    def land(self, kill: Row) -> None:
        """A kill reached this run: flag it, cancel sync nodes' calls, cancel the run's task."""
        if self.kill is None:
            self.kill = kill
            self.landed_at = time.monotonic()
        for call in list(self._calls):
            call.cancel()
        task = self._task
        if task is not None and not task.done() and not self.cancelled and not self.sync_running:
            self.cancelled = True
            task.cancel("waypoint kill")

    async def cancellable(self, work: Coroutine[Any, Any, T], node: str) -> T:
        """Await `work` as a task a kill cancels; a kill that cancels it halts the node.

        Raises:
            GuardHalt: the kill landed while the call ran.
        """
        call = asyncio.ensure_future(work)
        self._calls.add(call)
        try:
            return await call
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self.kill is None or (current is not None and current.cancelling()):
                raise  # not the kill's doing
            self.check(node)
            raise
        finally:
            self._calls.discard(call)

    def call_started(self, call: Future[Any]) -> None:
        """A sync node waits on `call` (cancelled if a kill lands)."""
        self._calls.add(call)
        if self.kill is not None:
            call.cancel()

    def call_ended(self, call: Future[Any]) -> None:
        """The sync node's call is over."""
        self._calls.discard(call)

    async def run(self, work: Coroutine[Any, Any, T], db: Database) -> T:
        """Run `work` as a task the watcher of `db` may cancel; a kill's cancel propagates.

        Raises:
            asyncio.CancelledError: the watcher cancelled it (`cancelled` is True) or the caller
                was cancelled.
        """
        self.loop = asyncio.get_running_loop()
        task: asyncio.Future[T] = asyncio.ensure_future(work)
        self._task = task
        watcher = watcher_of(db)
        watcher.add(self)
        try:
            return await task
        finally:
            watcher.remove(self)
            self._task = None


_current: ContextVar[RunStop | None] = ContextVar("waypoint_run_stop", default=None)


def current_stop() -> RunStop | None:
    """The stop signal of the run this code is part of, if the runner set one."""
    return _current.get()


def set_stop(stop: RunStop | None) -> Any:
    """Install a run's stop signal for this context; returns the token to reset it."""
    return _current.set(stop)


def reset_stop(token: Any) -> None:
    """Undo `set_stop`."""
    _current.reset(token)


def sync_nodes(graph: Any) -> frozenset[str]:
    """Names of the nodes (subgraphs' too) whose body is a plain function, run in a thread.

    LangGraph runs a sync node's function in a worker thread (its `RunnableCallable` has the
    function as `func`; an async node has only `afunc`). Anything else counts as async.
    """
    names = sync_nodes_of_one(graph)
    try:
        subgraphs = list(graph.get_subgraphs(recurse=True))
    except Exception:  # a graph that cannot list them has none to add
        subgraphs = []
    for _, subgraph in subgraphs:
        names |= sync_nodes_of_one(subgraph)
    return frozenset(names)


def sync_nodes_of_one(graph: Any) -> set[str]:
    """`sync_nodes` of one graph, without its subgraphs."""
    return {
        str(name)
        for name, node in getattr(graph, "nodes", {}).items()
        if callable(getattr(getattr(node, "bound", None), "func", None))
        and not str(name).startswith("__")
    }


def _matching(stop: RunStop, thread_kills: dict[str, Row], scopes: dict[str, Row]) -> Row | None:
    """The kill for a run: its thread's own, then its graph's, then a global one."""
    return (
        thread_kills.get(stop.thread_id) or scopes.get(graph_scope(stop.graph)) or scopes.get(ALL)
    )


@dataclass(eq=False)
class KillWatcher:
    """Polls one database's kill tables while runs of this process are watched."""

    db: Database
    runs: set[RunStop] = field(default_factory=set)
    polls: int = 0
    _task: asyncio.Task[None] | None = None

    def add(self, stop: RunStop) -> None:
        """Watch a run (the poll starts with the first one)."""
        self.runs.add(stop)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll())

    def remove(self, stop: RunStop) -> None:
        """Stop watching a run (the poll ends by itself after the last one, within a poll)."""
        self.runs.discard(stop)

    async def _poll(self) -> None:
        interval = poll_seconds()
        while self.runs:
            await asyncio.sleep(interval)
            if not self.runs:
                return
            try:
                await self.read_once()
            except Exception:  # a lost database is the run's own error to report
                continue

    async def read_once(self) -> None:
        """Read the open kills once and land each on the runs it reaches."""
        now = datetime.now(UTC)
        for stop in [
            s for s in self.runs if now - datetime.fromisoformat(s.started) > FORGET_AFTER
        ]:
            self.runs.discard(stop)
        if not self.runs:
            return
        since = (
            min(datetime.fromisoformat(stop.started) for stop in self.runs) - SINCE_MARGIN
        ).isoformat()
        rows = await self.db.fetchall(
            "SELECT 't' AS kind, thread_id AS target, reason, requested_by, requested_at "
            "FROM waypoint_kills WHERE consumed_at IS NULL AND requested_at >= :since "
            "UNION ALL SELECT 's' AS kind, scope AS target, reason, requested_by, requested_at "
            "FROM waypoint_kill_scopes WHERE lifted_at IS NULL",
            {"since": since},
        )
        self.polls += 1
        thread_kills = {str(r["target"]): r for r in rows if r["kind"] == "t"}
        scopes = {str(r["target"]): r for r in rows if r["kind"] == "s"}
        for stop in list(self.runs):
            kill = _matching(stop, thread_kills, scopes)
            if kill is not None:
                stop.land({k: kill[k] for k in ("reason", "requested_by", "requested_at")})


_ATTRIBUTE = "_waypoint_kill_watcher"
"""Where a database handle keeps its watcher (so it lives and dies with the handle)."""


def watcher_of(db: Database) -> KillWatcher:
    """The kill watcher of a database handle (one per handle)."""
    watcher = getattr(db, _ATTRIBUTE, None)
    if not isinstance(watcher, KillWatcher):
        watcher = KillWatcher(db)
        setattr(db, _ATTRIBUTE, watcher)
    return watcher

"""What a history row says about one checkpoint: next nodes, interrupts, gate verdicts, time.

Two ways to the same facts. `facts_from_snapshot` reads a `StateSnapshot` from LangGraph's own
`aget_state_history`; it works with any saver but builds every node's input (the state as a
pydantic model) for every checkpoint. `FactsReader` works from a checkpoint as it is saved
(`waypoint.checkpoint_tables`) and does only what the row needs, by LangGraph's own rules:

- next: the nodes a trigger channel woke (a channel that holds a value and whose version is
  newer than the one the node last saw), in the graph's node order, as `prepare_next_tasks`;
- interrupts and whether each was answered: `read_task_statuses` over the checkpoint's writes,
  matched to the next tasks by their task path (`~__pregel_pull, NODE`);
- gates: verdicts among the state channels' saved values.

Checkpoints it does not model (an older checkpoint format, pending `Send`s, input written with
a `Command(update=...)`, delta channels, a graph that is not a `StateGraph`) read as None, and
callers use LangGraph's snapshots instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langgraph._internal._constants import INTERRUPT, NULL_TASK_ID, PULL, TASKS
from langgraph._internal._typing import MISSING
from langgraph.channels.any_value import AnyValue
from langgraph.channels.base import BaseChannel
from langgraph.channels.binop import BinaryOperatorAggregate
from langgraph.channels.last_value import LastValue
from langgraph.graph.state import CompiledStateGraph
from langgraph.pregel._algo import task_path_str
from langgraph.pregel._task_status import read_task_statuses
from langgraph.types import StateSnapshot

from waypoint.checkpoint_tables import StoredCheckpoint
from waypoint.json_records import JsonRecord

Graph = CompiledStateGraph[Any, Any, Any, Any]

CHECKPOINT_FORMAT = 4
"""The saved checkpoint format (`Checkpoint["v"]`) this module was checked against."""

PLAIN_STATE_CHANNELS = (LastValue, AnyValue, BinaryOperatorAggregate)
"""State channel types whose saved form is the value the state shows."""

SCALARS = frozenset({str, int, float, bool, type(None)})
"""Types of values that cannot hold a gate verdict."""


@dataclass(frozen=True)
class InterruptInfo(JsonRecord):
    """A human question raised while running a checkpoint's next tasks."""

    id: str
    node: str
    action: str | None
    """The HITL action name (`issue_refund`, ...), when the payload is an HITL request."""
    answered: bool
    """Whether the node went on to finish (the question was answered) from this checkpoint."""


@dataclass(frozen=True)
class GateInfo(JsonRecord):
    """A quality gate's verdict found in the state (the last one, for a list of verdicts)."""

    field: str
    gate: str
    passed: bool
    reasons: list[str]


@dataclass(frozen=True)
class CheckpointFacts:
    """What one checkpoint shows in `history`, beyond its id, parent and metadata."""

    created_at: str | None
    next: list[str]
    """Nodes of the checkpoint's super-step (those that ran or will run from it)."""
    interrupts: list[InterruptInfo]
    gates: list[GateInfo]


def _interrupt(intr: Any, node: str, answered: bool) -> InterruptInfo:
    value = intr.value
    action = None
    if isinstance(value, Mapping) and value.get("action_requests"):
        action = str(value["action_requests"][0].get("name"))
    return InterruptInfo(id=intr.id, node=node, action=action, answered=answered)


def _as_verdict(name: str, value: Any) -> GateInfo | None:
    if isinstance(value, Mapping) and "gate" in value and isinstance(value.get("passed"), bool):
        return GateInfo(
            field=name,
            gate=str(value["gate"]),
            passed=bool(value["passed"]),
            reasons=[str(r) for r in value.get("reasons") or []],
        )
    return None


def gates_in(values: Mapping[str, Any]) -> list[GateInfo]:
    """Gate verdicts kept in the state: single verdicts, and the last of a list of them."""
    gates: list[GateInfo] = []
    for name, value in values.items():
        if isinstance(value, list) and value:
            verdict = _as_verdict(f"{name}[{len(value) - 1}]", value[-1])
        else:
            verdict = _as_verdict(name, value)
        if verdict is not None:
            gates.append(verdict)
    return gates


def snapshot_values(snapshot: StateSnapshot) -> dict[str, Any]:
    """The state of a snapshot as a dict (empty when it has none)."""
    return dict(snapshot.values) if isinstance(snapshot.values, Mapping) else {}


def facts_from_snapshot(snapshot: StateSnapshot) -> CheckpointFacts:
    """The facts of a snapshot from `aget_state_history` (a record of the step, not live)."""
    interrupts = [
        _interrupt(intr, task.name, task.result is not None)
        for task in snapshot.tasks
        for intr in task.interrupts
    ]
    return CheckpointFacts(
        created_at=snapshot.created_at,
        next=list(snapshot.next),
        interrupts=interrupts,
        gates=gates_in(snapshot_values(snapshot)),
    )


class FactsReader:
    """Facts of saved checkpoints of one graph, as `aget_state_history` would report them.

    A channel's value at a version never changes (savers give each write a new version), so
    what is worked out per channel value (is it available, is it a verdict) is kept by version.
    """

    def __init__(self, graph: Graph) -> None:
        """Index the graph's triggers: which nodes each channel can wake, in node order."""
        self.graph = graph
        self.state_channels: list[str] = (
            list(graph.stream_channels_asis) if isinstance(graph.stream_channels_asis, list) else []
        )
        self._order = {name: index for index, name in enumerate(graph.nodes)}
        self._wakes: dict[str, list[str]] = {}
        for name, node in graph.nodes.items():
            for channel in node.triggers:
                self._wakes.setdefault(channel, []).append(name)
        self._wake_when_empty = {c for c in self._wakes if self._restore(c, MISSING).is_available()}
        self._available: dict[tuple[str, Any, bool], bool] = {}
        self._verdicts: dict[str, dict[Any, GateInfo | None]] = {n: {} for n in self.state_channels}

    def supported(self) -> bool:
        """Whether this graph's checkpoints can be read here (else use LangGraph's snapshots)."""
        return isinstance(self.graph.stream_channels_asis, list) and all(
            type(self.graph.channels.get(name)) in PLAIN_STATE_CHANNELS
            for name in self.state_channels
        )

    def facts(self, stored: StoredCheckpoint) -> CheckpointFacts | None:
        """The checkpoint's facts; None if it holds something only LangGraph's reader handles."""
        checkpoint = stored.checkpoint
        if checkpoint.get("v") != CHECKPOINT_FORMAT or TASKS in checkpoint["channel_values"]:
            return None  # an older format, or pending `Send` tasks
        channels, asked = self.graph.channels, False
        for write in stored.writes:
            if write.task_id == NULL_TASK_ID and write.channel in channels:
                return None  # run input, which LangGraph applies to the values it shows
            asked = asked or write.channel == INTERRUPT
        next_nodes = self._next(checkpoint)
        return CheckpointFacts(
            created_at=checkpoint.get("ts"),
            next=next_nodes,
            interrupts=self._interrupts(stored, next_nodes) if asked else [],
            gates=self._gates(checkpoint),
        )

    def _next(self, checkpoint: Mapping[str, Any]) -> list[str]:
        """Nodes woken by a trigger, as `prepare_next_tasks` finds them (`_triggers`)."""
        versions: Mapping[str, Any] = checkpoint["channel_versions"]
        if not versions:
            return []
        null_version = type(next(iter(versions.values())))()  # as `checkpoint_null_version`
        all_seen: Mapping[str, Mapping[str, Any]] = checkpoint["versions_seen"]
        stored = checkpoint["channel_values"].keys() & self._wakes.keys()
        candidates = {n for c in stored | self._wake_when_empty for n in self._wakes[c]}
        found: list[str] = []
        for name in sorted(candidates, key=self._order.__getitem__):
            node = self.graph.nodes[name]
            seen = all_seen.get(name)
            if not any(
                self._is_available(checkpoint, channel)
                and (
                    seen is None
                    or versions.get(channel, null_version) > seen.get(channel, null_version)
                )
                for channel in node.triggers
            ):
                continue
            if isinstance(node.channels, str) and not self._is_available(checkpoint, node.channels):
                continue  # LangGraph makes no task when a node's only input is empty
            found.append(name)
        return found

    def _restore(self, channel: str, saved: Any) -> BaseChannel[Any, Any, Any]:
        spec = self.graph.channels[channel]
        assert isinstance(spec, BaseChannel), f"{channel} is not a channel"
        return spec.from_checkpoint(saved)

    def _is_available(self, checkpoint: Mapping[str, Any], channel: str) -> bool:
        """Whether the channel holds a value at this checkpoint, by the channel's own rule."""
        values = checkpoint["channel_values"]
        key = (channel, checkpoint["channel_versions"].get(channel), channel in values)
        if key not in self._available:
            self._available[key] = self._restore(
                channel, values.get(channel, MISSING)
            ).is_available()
        return self._available[key]

    def _interrupts(self, stored: StoredCheckpoint, next_nodes: list[str]) -> list[InterruptInfo]:
        """Questions the next tasks asked, as `tasks_w_writes` reports them (not live)."""
        statuses = read_task_statuses((w.task_id, w.channel, w.value) for w in stored.writes)
        task_ids = {w.task_path: w.task_id for w in stored.writes}
        interrupts: list[InterruptInfo] = []
        for node in next_nodes:
            task_id = task_ids.get(task_path_str((PULL, node)))
            status = statuses.get(task_id) if task_id is not None else None
            if status is not None:
                interrupts += [_interrupt(i, node, status.finished) for i in status.interrupts]
        return interrupts

    def _gates(self, checkpoint: Mapping[str, Any]) -> list[GateInfo]:
        """`gates_in` the state channels' values, each value judged once per version."""
        values, versions = checkpoint["channel_values"], checkpoint["channel_versions"]
        gates: list[GateInfo] = []
        for name in self.state_channels:
            value = values.get(name, MISSING)
            if value is MISSING or type(value) in SCALARS:
                continue  # (a verdict is a mapping, or the last item of a list)
            judged = self._verdicts[name]
            version = versions.get(name)
            if version in judged:
                verdict = judged[version]
            else:
                verdict = next(iter(gates_in({name: value})), None)
                if version is not None:
                    judged[version] = verdict
            if verdict is not None:
                gates.append(verdict)
        return gates

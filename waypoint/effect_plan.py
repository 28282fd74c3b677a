"""Which side effects a replay or a fork may perform, before it writes anything.

A node declares the kinds of effect it performs in its metadata (`add_node(..., effects=...)`,
or `builder.add_node(..., metadata=effects_metadata(...))` in a plain graph). Time travel reads
the declarations, walks the graph's edges from where the new run would start, and lists every
declared effect on the way: the command line names them and asks for `--allow-effects` before
it writes. Effects keyed by their business identity do not repeat (`perform_once` replays the
recorded result), and a workflow that re-reads its facts does not act on stale ones; the plan
says which kinds this thread already performed, so a reader knows which lines will replay.

Conservative by design: a conditional edge counts as every target it may take, and a node
behind a human step counts (the human may approve). Effects inside subgraphs are not walked.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from waypoint.errors import BadInput
from waypoint.json_records import JsonRecord

EFFECTS_KEY = "waypoint_effects"
"""Node metadata key: the kinds of side effect the node performs (e.g. `support.payment`)."""


def effects_metadata(*kinds: str) -> dict[str, Any]:
    """Node metadata declaring the effects a node performs, for a plain `builder.add_node`.

    ```python
    builder.add_node("pay", pay, metadata=effects_metadata("shop.payment"))
    ```
    """
    return {EFFECTS_KEY: list(kinds)}


@dataclass(frozen=True)
class PlannedEffect(JsonRecord):
    """An effect a replay or fork may perform.

    `performed_before`: the thread already performed this kind, so an effect with the same
    business key replays its recorded result.
    """

    node: str
    kind: str
    performed_before: bool

    def describe(self) -> str:
        """One line: `support.payment at execute (performed before: replays by its key)`."""
        note = " (performed before in this thread: replays by its key)"
        return f"{self.kind} at {self.node}{note if self.performed_before else ''}"


def declared_effects(graph: Any) -> dict[str, tuple[str, ...]]:
    """Node name → the effect kinds its metadata declares (nodes that declare none omitted)."""
    builder = getattr(graph, "builder", None)
    nodes: Mapping[str, Any] = getattr(builder, "nodes", {}) or {}
    declared: dict[str, tuple[str, ...]] = {}
    for name, spec in nodes.items():
        metadata = getattr(spec, "metadata", None) or {}
        kinds = metadata.get(EFFECTS_KEY)
        if kinds:
            declared[name] = tuple(str(kind) for kind in kinds)
    return declared


def _edges(graph: Any) -> dict[str, set[str]]:
    drawable = graph.get_graph()
    edges: dict[str, set[str]] = {}
    for edge in drawable.edges:
        edges.setdefault(edge.source, set()).add(edge.target)
    return edges


def successors(graph: Any, node: str) -> list[str]:
    """The nodes an edge from `node` may lead to (conditional edges: every target)."""
    return sorted(target for target in _edges(graph).get(node, set()) if target != "__end__")


def reachable(graph: Any, starts: Iterable[str]) -> list[str]:
    """`starts` and every node reachable from them, in the order a walk meets them."""
    edges = _edges(graph)
    seen: list[str] = []
    todo = [start for start in starts if start not in ("__start__", "__end__")]
    while todo:
        node = todo.pop(0)
        if node in seen or node in ("__start__", "__end__"):
            continue
        seen.append(node)
        todo.extend(sorted(edges.get(node, set())))
    return seen


def plan_effects(
    graph: Any, starts: Iterable[str], performed: Collection[str] = ()
) -> list[PlannedEffect]:
    """The declared effects on every path from `starts`, with the kinds already `performed`."""
    declared = declared_effects(graph)
    return [
        PlannedEffect(node=node, kind=kind, performed_before=kind in performed)
        for node in reachable(graph, starts)
        for kind in declared.get(node, ())
    ]


def check_effects_allowed(
    plan: Sequence[PlannedEffect], *, allowed: bool, action: str, thread_id: str
) -> None:
    """Refuse a replay or fork that may act in the world unless the caller allowed it.

    Raises:
        BadInput: field `allow-effects`, naming every effect it may perform.
    """
    if not plan or allowed:
        return
    listed = "; ".join(effect.describe() for effect in plan)
    raise BadInput(
        f"allow-effects: this {action} of thread {thread_id} may perform side effects: {listed}. "
        "Effects keyed by their business identity do not repeat and facts are re-read before "
        "acting; pass --allow-effects to go ahead. Nothing was written",
        field="allow-effects",
    )

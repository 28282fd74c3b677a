"""The facts evaluators look at, read from a trace's runs (`langsmith.schemas.Run`).

Each graph invocation is a root run; its children that carry `langgraph_node` metadata equal to
their name are node runs. From them: the nodes visited (a node paused by an interrupt and run
again on resume counts once), the LangGraph thread trajectory in agentevals' shape, the
interrupts raised, the gate verdicts written (any output shaped like `{"gate", "passed"}`), the
capability and tool calls, the final output and status, errors, and time, tokens and cost per
node. Works the same on a Waypoint recording and on a LangSmith export of a LangGraph run.

Internal nodes (`__error_handler__<node>` and other `__` names) are not visits, but an interrupt
they raise (a failure ladder asking a human to recover) is an interrupt like any other; the
thread trajectory marks it with `__interrupt__` too, which agentevals' checkpoint-based
extraction does not see. A node a guard halted before its body started has no run (the halt in
the final output names it); agentevals lists it, as its task is in the checkpoint.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from langsmith.schemas import Run

from waypoint.contract import status_of
from waypoint.evals.trace_format import TraceFile, TraceHeader
from waypoint.evals.tracer import INTERRUPT_KEY

START, INTERRUPT = "__start__", "__interrupt__"


@dataclass
class NodeVisit:
    """One node run."""

    node: str
    segment: int
    status: str
    """success, error or interrupted."""
    seconds: float
    outputs: dict[str, Any]
    error: str | None


@dataclass
class ModelUsage:
    """Tokens (and cost, when the trace has it) of one model run."""

    node: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost: Decimal | None


@dataclass
class TraceView:
    """What happened in one recorded case."""

    header: TraceHeader
    runs: list[Run]
    visits: list[NodeVisit] = field(default_factory=list)
    path: list[str] = field(default_factory=list)
    thread_steps: list[list[str]] = field(default_factory=list)
    interrupts: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    final_output: dict[str, Any] = field(default_factory=dict)
    status: str = "completed"
    errors: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    usage: list[ModelUsage] = field(default_factory=list)
    model_calls: int = 0

    def node_seconds(self) -> dict[str, float]:
        """Time spent in each node (summed over visits)."""
        spent: dict[str, float] = defaultdict(float)
        for visit in self.visits:
            spent[visit.node] += visit.seconds
        return dict(spent)

    def cost(self, usd_per_1k_tokens: dict[str, Decimal] | None = None) -> dict[str, Decimal]:
        """Cost per node: the trace's own cost, else tokens at `usd_per_1k_tokens[model]`."""
        prices = usd_per_1k_tokens or {}
        per_node: dict[str, Decimal] = defaultdict(Decimal)
        for use in self.usage:
            if use.cost is not None:
                per_node[use.node] += use.cost
            else:
                per_node[use.node] += prices.get(use.model, Decimal(0)) * use.total_tokens / 1000
        return dict(per_node)

    @property
    def tokens(self) -> int:
        """Total tokens the models reported."""
        return sum(use.total_tokens for use in self.usage)


def _seconds(run: Run) -> float:
    return run.latency or 0.0


def _interrupt_of(run: Run) -> list[dict[str, Any]] | None:
    outputs = run.outputs or {}
    if INTERRUPT_KEY in outputs and run.parent_run_id is not None:
        return list(outputs[INTERRUPT_KEY])
    if run.error and run.error.startswith("GraphInterrupt("):  # a LangSmith export
        return [{"id": None, "value": None}]
    return None


def _verdicts(outputs: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for value in outputs.values():
        item = value[-1] if isinstance(value, list) and value else value
        if isinstance(item, dict) and "gate" in item and "passed" in item:
            found.append(item)
    return found


def _action(value: Any) -> str | None:
    if isinstance(value, dict) and value.get("action_requests"):
        return str(value["action_requests"][0].get("name"))
    return None


def build_view(trace: TraceFile) -> TraceView:
    """Read the facts of a trace."""
    runs = trace.load_runs()
    view = TraceView(header=trace.header, runs=runs)
    by_id = {run.id: run for run in runs}
    roots = [run for run in runs if run.parent_run_id is None]
    segment_of = {root.id: index for index, root in enumerate(roots)}
    previous_pause: str | None = None
    for index, root in enumerate(roots):
        steps: list[str] = [START] if index == 0 else []
        first = True
        paused_here: str | None = None
        for run in runs:
            if run.parent_run_id != root.id or run.metadata.get("langgraph_node") != run.name:
                continue
            pending = _interrupt_of(run)
            continued = first and index > 0 and run.name == previous_pause
            first = False
            internal = run.name.startswith("__")  # error handlers and other LangGraph internals
            if not internal:
                status = "interrupted" if pending else ("error" if run.error else "success")
                view.visits.append(
                    NodeVisit(run.name, index, status, _seconds(run), run.outputs or {}, run.error)
                )
                if not continued:
                    view.path.append(run.name)
                    steps.append(run.name)
            if pending is not None:
                steps.append(INTERRUPT)
                paused_here = run.name
                for item in pending:
                    value = item.get("value")
                    view.interrupts.append(
                        {"node": run.name, "action": _action(value), "value": value}
                    )
            elif run.error is None and not internal:
                for verdict in _verdicts(run.outputs or {}):
                    view.verdicts.append({"node": run.name, **verdict})
        view.thread_steps.append(steps)
        view.seconds += _seconds(root)
        previous_pause = paused_here
    for run in runs:
        metadata = run.metadata
        node = str(metadata.get("langgraph_node", "?"))
        parent = by_id.get(run.parent_run_id) if run.parent_run_id else None
        if "waypoint_capability" in metadata:
            request = (run.inputs or {}).get("request", run.inputs)
            view.tool_calls.append(
                {"name": run.name, "args": request, "node": node, "run_type": run.run_type}
            )
        elif run.run_type == "tool":
            view.tool_calls.append(
                {"name": run.name, "args": run.inputs, "node": node, "run_type": "tool"}
            )
        if run.run_type == "llm" and (parent is None or parent.run_type != "llm"):
            view.model_calls += 1
        if run.total_tokens or run.total_cost is not None:
            view.usage.append(
                ModelUsage(
                    node=node,
                    model=str(metadata.get("ls_model_name", "?")),
                    prompt_tokens=run.prompt_tokens or 0,
                    completion_tokens=run.completion_tokens or 0,
                    total_tokens=run.total_tokens or 0,
                    cost=run.total_cost,
                )
            )
        if run.error and _interrupt_of(run) is None and run.parent_run_id is not None:
            failure = metadata.get("waypoint_error") or {}
            view.errors.append(
                {
                    "node": node,
                    "run": run.name,
                    "type": failure.get("type") or run.error.split("(", 1)[0],
                    "message": failure.get("message") or run.error[:300],
                    "segment": segment_of.get(run.trace_id, 0),
                }
            )
    last = roots[-1] if roots else None
    outputs = dict(last.outputs or {}) if last is not None else {}
    pending_at_end = outputs.pop(INTERRUPT_KEY, None)
    view.final_output = outputs
    if last is not None and last.error:
        view.status = "error"  # the run raised: no thread status describes it
    else:
        waiting = bool(pending_at_end) or bool(
            view.visits and view.visits[-1].status == "interrupted"
        )
        view.status = status_of(
            outputs, waiting=waiting, pending=False, cut_off=False, started=True
        )
    return view

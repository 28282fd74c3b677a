"""`waypoint new NAME`: a new workflow from one command, ready to run, test and evaluate.

It writes `state/NAME.py`, `nodes/NAME/` (a node, a quality gate, a human step, demo cases),
`graphs/NAME.py`, `evals/NAME/` (a suite with one case, recorded by running the new workflow
with its offline logic) and `tests/workflows/test_NAME.py`, and adds the graph to
`langgraph.json` (served through `./waypoint/serving.py:NAME`). It refuses, writing nothing, a
name that is not a Python identifier or that any of these already use.
"""

from __future__ import annotations

import json
import keyword
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from waypoint.errors import BadInput
from waypoint.workflows import forget_workflows

NAME = re.compile(r"^[a-z][a-z0-9_]{0,19}$")

STATE = Template('''"""Typed state of the `$name` workflow: input, node outputs, settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from waypoint import AT_MOST, PROTECTED, GateVerdict, ThreadSummary, WorkflowContext, WorkflowState


class ${Camel}Input(BaseModel):
    """What a caller sends to start a `$name` run."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    request_id: str = Field(min_length=1, max_length=64, description="The caller's id.")
    text: str = Field(min_length=1, max_length=2000, description="What to answer.")


class ${Camel}State(
    ${Camel}Input,
    WorkflowState,
):
    """Shared state of one `$name` thread (kit fields from `WorkflowState`)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    answer: str | None = Field(
        default=None, description="The answer drafted.", json_schema_extra=PROTECTED
    )
    verdicts: list[GateVerdict] = Field(
        default_factory=list, description="The check's verdicts.", json_schema_extra=PROTECTED
    )
    approved_by: str | None = Field(
        default=None, description="Who let a long answer through.", json_schema_extra=PROTECTED
    )

    def summary(self) -> ThreadSummary:
        """The request, and whether it was answered."""
        return ThreadSummary(subject=self.request_id, outcome="answered" if self.answer else None)


class ${Camel}Context(WorkflowContext):
    """Run settings of a `$name` run (Studio shows these descriptions)."""

    max_length: int = Field(
        default=280,
        ge=1,
        description="Answers longer than this need a human. Policy: a run may only lower it.",
        json_schema_extra=AT_MOST,
    )
''')

NODES_INIT = Template('''"""Nodes of the `$name` workflow."""
''')

NODES = Template('''"""Nodes of `$name`: answer, check the answer, ask a human when it is long.

`answer` is the place for a model: register a capability (see `nodes/support/capabilities.py`)
and call it; this offline version is deterministic.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from state.$name import (
    ${Camel}Context,
    ${Camel}State,
)
from waypoint import GateVerdict, acting_user, ask_human, build_request, update


async def answer(state: ${Camel}State) -> dict[str, Any]:
    """Draft the answer (offline: the request, tidied)."""
    return update(answer=f"Re {state.request_id}: {state.text.strip().capitalize()}")


async def check(
    state: ${Camel}State,
    runtime: Runtime[${Camel}Context],
) -> dict[str, Any]:
    """Quality gate: the answer must be within the run's length limit."""
    assert state.answer is not None
    limit = runtime.context.max_length
    reasons = [] if len(state.answer) <= limit else [f"longer than {limit} characters"]
    verdict = GateVerdict(gate="length", passed=not reasons, reasons=reasons)
    return update(verdicts=[*state.verdicts, verdict])


def route_after_check(
    state: ${Camel}State,
) -> Literal["__end__", "approve"]:
    """A passing answer is done; a long one goes to a human."""
    return "__end__" if state.verdicts and state.verdicts[-1].passed else "approve"


async def approve(
    state: ${Camel}State,
    config: RunnableConfig,
) -> dict[str, Any]:
    """A human lets the long answer through, or rejects it."""
    request = build_request(
        action="send_answer",
        args={"request_id": state.request_id, "answer": state.answer or ""},
        description=f"The answer to {state.request_id} is long. Approve it, or reject it.",
        allowed=["approve", "reject"],
    )
    decision = ask_human(request)
    if decision.type == "reject":
        return update(answer=None)
    return update(approved_by=acting_user(config) or "unknown")
''')

GRAPH = Template('''"""Wiring of `$name`: answer → length check → (a human if long) → end.

`graph` is compiled WITHOUT a checkpointer; `langgraph.json` serves it through
`./waypoint/serving.py:$name`,
which fits it with the kit's ledger, guards and admission.
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from nodes.$name.steps import answer, approve, check, route_after_check
from state.$name import (
    ${Camel}Context,
    ${Camel}Input,
    ${Camel}State,
)
from waypoint import add_node, set_default_ladder


def build() -> StateGraph[
    ${Camel}State,
    ${Camel}Context,
    ${Camel}Input,
    ${Camel}State,
]:
    """The `$name` graph builder."""
    builder = StateGraph(
        ${Camel}State,
        context_schema=${Camel}Context,
        input_schema=${Camel}Input,
    )
    set_default_ladder(builder)  # every node: 429-aware retries, then a halt with the reason
    add_node(builder, "answer", answer)
    add_node(builder, "check", check)
    add_node(builder, "approve", approve)
    builder.add_edge(START, "answer")
    builder.add_edge("answer", "check")
    builder.add_conditional_edges("check", route_after_check)
    builder.add_edge("approve", END)
    return builder


graph = build().compile(name="$name").with_config(recursion_limit=25)
''')

SUITE = Template("""# Eval suite of the `$name` workflow. Re-record after an intended change:
#   waypoint record $name --input '$input' --out evals/$name/traces/short-answer.jsonl
suite_schema: waypoint.eval-suite/1
name: $name
graph: $name
description: The `$name` workflow answers a short request without a human.

cases:
  - id: short-answer
    trace: traces/short-answer.jsonl
    description: A short request is answered and passes the length check.
    record:
      input: $input
    expect:
      status: completed
      nodes: [answer, check]
      gates: [{gate: length, passed: true}]
      interrupts: []
""")

TEST = Template('''"""The `$name` workflow: answers, checks, asks a human (both backends)."""

from __future__ import annotations

import asyncio
import uuid

from waypoint import resume_thread, start_run


def test_a_short_request_is_answered(db_url: str) -> None:
    request = {"request_id": "R-1", "text": "hello"}
    report = asyncio.run(
        start_run(
            "$name",
            request,
            db_url=db_url,
        )
    )
    assert report.status == "completed"
    assert report.values["answer"] == "Re R-1: Hello"


def test_a_long_answer_waits_for_a_human(db_url: str) -> None:
    thread = f"$name-{uuid.uuid4().hex[:8]}"
    request = {"request_id": "R-2", "text": "x" * 400}
    waiting = asyncio.run(
        start_run(
            "$name",
            request,
            thread_id=thread,
            db_url=db_url,
        )
    )
    assert waiting.status == "waiting"
    approve = {"decisions": [{"type": "approve"}]}
    done = asyncio.run(resume_thread(thread, approve, db_url=db_url))
    assert done.status == "completed" and done.values["approved_by"]
''')

EXAMPLE_INPUT = {"request_id": "R-1", "text": "hello"}


@dataclass(frozen=True)
class NewWorkflow:
    """What `waypoint new` wrote."""

    name: str
    files: list[Path]


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_") if part)


def planned_files(root: Path, name: str) -> dict[Path, str]:
    """Each file `waypoint new NAME` writes, with its text (the trace comes from a run)."""
    values = {"name": name, "Camel": _camel(name), "input": json.dumps(EXAMPLE_INPUT)}
    demo = [{"case": "short answer", "input": EXAMPLE_INPUT, "expect": "completed"}]
    return {
        root / "state" / f"{name}.py": STATE.substitute(values),
        root / "nodes" / name / "__init__.py": NODES_INIT.substitute(values),
        root / "nodes" / name / "steps.py": NODES.substitute(values),
        root / "nodes" / name / "demo_cases.json": json.dumps(demo, indent=2) + "\n",
        root / "graphs" / f"{name}.py": GRAPH.substitute(values),
        root / "evals" / name / "suite.yaml": SUITE.substitute(values),
        root / "tests" / "workflows" / f"test_{name}.py": TEST.substitute(values),
    }


def check_name(root: Path, name: str) -> None:
    """Refuse a name that cannot be a workflow, or that is taken.

    Raises:
        BadInput: not a lowercase identifier, a Python keyword, or used by a graph or a file.
    """
    if not NAME.match(name) or keyword.iskeyword(name):
        raise BadInput(
            f"name: expected a lowercase Python identifier (a-z, 0-9, _; 1-20), got {name!r}",
            field="name",
        )
    graphs = json.loads((root / "langgraph.json").read_text()).get("graphs", {})
    if name in graphs:
        raise BadInput(f"name: langgraph.json already lists a graph {name!r}", field="name")
    taken = [p for p in [*planned_files(root, name), root / "nodes" / name] if p.exists()]
    if taken:
        raise BadInput(f"name: {taken[0].relative_to(root)} already exists", field="name")


async def create_workflow(root: Path, name: str) -> NewWorkflow:
    """Write the new workflow's files, register it, and record its eval case.

    Raises:
        BadInput: see `check_name`; nothing is written then.
    """
    check_name(root, name)
    files = planned_files(root, name)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    init = root / "tests" / "workflows" / "__init__.py"
    if not init.exists():
        init.write_text("")
    config_path = root / "langgraph.json"
    config = json.loads(config_path.read_text())
    config.setdefault("graphs", {})[name] = {
        "path": f"./waypoint/serving.py:{name}",
        "description": f"The {name} workflow (from `waypoint new`).",
    }
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    forget_workflows()  # langgraph.json changed under the loader's cache
    trace = await _record(root, name)
    return NewWorkflow(name=name, files=[*files, config_path, trace])


async def _record(root: Path, name: str) -> Path:
    """Record the suite's case by running the new workflow (offline) on a throwaway database."""
    from waypoint.evals.record_suite import record_suite
    from waypoint.evals.suite import load_suite

    suite = load_suite(root / "evals" / name)
    [written] = await record_suite(suite)
    return written

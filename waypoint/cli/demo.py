"""`waypoint demo`: run each workflow's demo cases offline and show where each one went.

A workflow ships its demo cases in `nodes/<graph>/demo_cases.json` (`DemoFile`; `nodes/` beside
`langgraph.json`): the cases, the
input fields made unique per demo run, and an optional `setup` hook run first (the support
workflow's puts its demo CRM orders back), so running the demo again on the same database gives
the same results. What the table shows of a thread is the workflow's own summary
(`WorkflowState.summary`, `waypoint.contract`).
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, model_validator
from rich.markup import escape

from waypoint.cli import render
from waypoint.contract import Status, gate_verdicts, summarize
from waypoint.errors import BadInput
from waypoint.fakes.payments import FakePayments, start_in_thread
from waypoint.hitl import is_hitl_request
from waypoint.persistence.sql import Executor
from waypoint.persistence.stores import open_stores
from waypoint.persistence.urls import parse_db_url
from waypoint.runner import ThreadReport, resume_thread, start_run, validate
from waypoint.workflows import PROJECT_ROOT, langgraph_json, load_workflow, workflow_names

DEMO_FILE = "demo_cases.json"
"""A workflow's demo cases: `nodes/<graph>/demo_cases.json`."""


class DemoCase(BaseModel):
    """One demo case: a run's input, where it must end, and an optional human answer."""

    model_config = ConfigDict(extra="forbid")

    case: str = Field(min_length=1, description="Name shown in the demo table.")
    input: dict[str, Any] = Field(description="The run's input (the graph's input schema).")
    expect: Status = Field(description="Where the run must stand before any answer.")
    answer: dict[str, Any] | None = Field(
        default=None,
        description='A human\'s answer (`{"decisions": [...]}`), given after every case has '
        "run, in file order; the case must then `expect` 'waiting'.",
    )
    after: Status = Field(default="completed", description="Where it must stand after `answer`.")
    outcome: str | None = Field(
        default=None, description="Text the thread's summary outcome must contain at the end."
    )
    note: str | None = Field(default=None, description="Why the case is there, shown with it.")

    @model_validator(mode="after")
    def _answer_needs_waiting(self) -> DemoCase:
        if self.answer is not None and self.expect != "waiting":
            raise ValueError("a case with an answer must expect 'waiting'")
        return self


class DemoFile(BaseModel):
    """A workflow's `demo_cases.json`."""

    model_config = ConfigDict(extra="forbid")

    cases: list[DemoCase] = Field(description="The cases, run in order.")
    unique: list[str] = Field(
        default_factory=list,
        description="Input fields given a per-run suffix (`T-1001` → `T-1001-3f9a1c`), so a "
        "second demo run on the same database is a new ticket, not a replay of the first.",
    )
    setup: str | None = Field(
        default=None,
        description="`module:function`, an async function taking the database (`Executor`), run "
        "before the cases (e.g. put the demo's CRM rows back as seeded).",
    )


def demo_file(graph: str) -> Path:
    """Where workflow `graph` keeps its demo cases: `nodes/<graph>/` beside `langgraph.json`."""
    return langgraph_json().parent / "nodes" / graph / DEMO_FILE


def load_demo(graph: str) -> DemoFile | None:
    """The demo cases workflow `graph` ships, validated; None if it ships none.

    Raises:
        BadInput: the file is not valid JSON or not a valid `DemoFile` (the message names the
            file and the field, e.g. `demo_cases.cases.2.expect`).
    """
    path = demo_file(graph)
    if not path.exists():
        return None
    where = path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"demo_cases: {where} is not valid JSON: {exc}", field="demo_cases") from exc
    try:
        parsed: DemoFile = validate(DemoFile, raw, what="demo_cases")
    except BadInput as exc:
        raise BadInput(f"{where}: {exc}", field=exc.field) from None
    workflow = load_workflow(graph)
    for number, case in enumerate(parsed.cases):
        try:
            validate(workflow.input_schema, case.input, what=f"demo_cases.cases.{number}.input")
        except BadInput as exc:
            raise BadInput(f"{where}: {exc}", field=exc.field) from None
        for name in parsed.unique:
            if not isinstance(case.input.get(name), str):
                raise BadInput(
                    f"{where}: demo_cases.unique: {name!r} is not a text field of case "
                    f"{case.case!r}'s input",
                    field="unique",
                )
    if parsed.setup is not None:
        setup_hook(parsed.setup, where)
    return parsed


SetupHook = Callable[[Executor], Awaitable[None]]


def setup_hook(reference: str, where: Path) -> SetupHook:
    """The `setup` function named `module:function`.

    Raises:
        BadInput: it cannot be imported, or is not an async function.
    """
    module_name, _, attribute = reference.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), attribute or "setup", None)
    except ImportError as exc:
        raise BadInput(
            f"{where}: demo_cases.setup: cannot import {module_name!r}: {exc}", field="setup"
        ) from None
    if not inspect.iscoroutinefunction(found):
        raise BadInput(
            f"{where}: demo_cases.setup: {reference!r} is not an async function "
            "(expected 'module:function')",
            field="setup",
        )
    return cast(SetupHook, found)


def case_input(demo: DemoFile, case: DemoCase, run_tag: str) -> dict[str, Any]:
    """The case's input with its `unique` fields suffixed by this run's tag."""
    data = dict(case.input)
    for name in demo.unique:
        data[name] = f"{data[name]}-{run_tag}"
    return data


def _gates(result: ThreadReport) -> str:
    verdicts = gate_verdicts(result.values)
    return ", ".join(f"{v.gate} {'✓' if v.passed else '✗'}" for v in verdicts) or "-"


def _outcome(result: ThreadReport) -> str | None:
    return summarize(load_workflow(result.graph).state_schema, result.values).outcome


def _where(result: ThreadReport) -> str:
    if result.interrupts:
        pending = result.interrupts[0]
        value = pending.value
        action = value["action_requests"][0]["name"] if is_hitl_request(value) else "a question"
        return f"waiting at {pending.node} ({action})"
    return _outcome(result) or result.status


def _misses(case: DemoCase, result: ThreadReport, expected: Status, final: bool) -> str:
    """What is wrong with where the case went (empty when right)."""
    wrong: list[str] = []
    if result.status != expected:
        wrong.append(f"expected {expected}")
    if final and case.outcome and case.outcome not in (_outcome(result) or ""):
        wrong.append(f"expected the outcome to say {case.outcome!r}")
    return f" [red]({escape('; '.join(wrong))})[/]" if wrong else ""


async def run_demo(db_url: str | None) -> int:
    """Run every demo case; exit 1 if any case did not end where it should.

    Every workflow's demo file is read and checked before anything runs (exit 2, nothing
    written, when one is wrong). Payments go to a FAKE payment service started for the demo
    (unless `WAYPOINT_PROVIDER_PAYMENTS_URL` names a provider already).
    """
    demos = [(graph, demo) for graph in workflow_names() if (demo := load_demo(graph))]
    with fake_payment_provider() as fake:
        async with open_stores(db_url) as stores:  # opened once, reused by every run below
            for _, demo in demos:
                if demo.setup is not None:
                    await setup_hook(demo.setup, Path(DEMO_FILE))(stores.db)
            status = await _run_cases(db_url, demos)
        if fake is not None:
            applied = fake.applied()
            render.console.print(
                f"\nThe FAKE payment service at {fake.url} applied {applied['payments']} "
                "payment(s), each under its refund's business key (Idempotency-Key)."
            )
        return status


PAYMENTS_URL_ENV = "WAYPOINT_PROVIDER_PAYMENTS_URL"


@contextmanager
def fake_payment_provider() -> Iterator[FakePayments | None]:
    """The FAKE payment service as the `payments` provider, unless one is configured already."""
    if os.environ.get(PAYMENTS_URL_ENV):
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="waypoint-demo-payments-") as folder:
        service = start_in_thread(Path(folder) / "ledger.sqlite")
        os.environ[PAYMENTS_URL_ENV] = service.url
        try:
            yield service
        finally:
            os.environ.pop(PAYMENTS_URL_ENV, None)
            service.stop()


async def _run_cases(db_url: str | None, demos: list[tuple[str, DemoFile]]) -> int:
    parsed = parse_db_url(db_url)
    render.console.print(f"[bold]Waypoint demo[/] on {parsed.redacted} (offline providers)\n")
    table = render.table("case", "subject", "gates", "where it went", "thread")
    answered: list[tuple[DemoCase, ThreadReport]] = []
    wrong = 0
    run_tag = uuid.uuid4().hex[:6]
    for graph, demo in demos:
        for number, case in enumerate(demo.cases, start=1):
            thread = f"demo-{graph}-{number}-{run_tag}"
            data = case_input(demo, case, run_tag)
            result = await start_run(graph, data, thread_id=thread, db_url=db_url)
            mark = _misses(case, result, case.expect, final=case.answer is None)
            wrong += bool(mark)
            subject = summarize(load_workflow(graph).state_schema, result.values).subject
            table.add_row(
                escape(case.case),
                escape(subject or graph),
                _gates(result),
                escape(_where(result)) + mark,
                escape(thread),
            )
            if case.answer is not None and result.status == "waiting":
                answered.append((case, result))
    render.print_table(table)
    if answered:
        render.console.print("\nA human answers, in order:")
        answers = render.table("case", "answer", "where it went", "thread")
        notes: list[str] = []
        for case, waiting in answered:
            assert case.answer is not None
            after = await resume_thread(waiting.thread_id, case.answer, db_url=db_url)
            mark = _misses(case, after, case.after, final=True)
            wrong += bool(mark)
            decisions = case.answer.get("decisions") or [{}]
            answer = str(decisions[0].get("type", "answer")) if decisions else "answer"
            answers.add_row(
                escape(case.case),
                escape(answer),
                escape(_where(after)) + mark,
                escape(after.thread_id),
            )
            if case.note:
                notes.append(f"[bold]{escape(case.case)}[/]: {escape(case.note)}")
        render.print_table(answers)
        for note in notes:
            render.console.print(note)
    example = answered[0][1].thread_id if answered else "THREAD"
    db_flag = f" --db {parsed.redacted}" if db_url else ""
    render.console.print(
        "\nInspect them:\n"
        f"  waypoint threads{db_flag}\n"
        f"  waypoint status {example}{db_flag} --json\n"
        f"  waypoint resume THREAD --approve | --reject --reason TEXT | --edit JSON | "
        f"--respond TEXT{db_flag}",
        soft_wrap=True,
    )
    if wrong:
        render.errors.print(f"[red]{wrong} demo case(s) did not end as expected[/]")
        return 1
    return 0

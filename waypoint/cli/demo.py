"""`waypoint demo`: run each workflow's demo tickets offline and show where each one went.

A workflow ships its demo cases in `nodes/<graph>/demo_tickets.json`: a list of
`{"case", "input", "expect", "answer"?}`; a case with an `answer` is resumed with it.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from waypoint.cli import render
from waypoint.contract import gate_verdicts, summarize
from waypoint.fakes.payments import FakePayments, start_in_thread
from waypoint.hitl import is_hitl_request
from waypoint.persistence.stores import open_stores
from waypoint.persistence.urls import parse_db_url
from waypoint.runner import ThreadReport, resume_thread, start_run
from waypoint.workflows import PROJECT_ROOT, load_workflow, workflow_names


def demo_cases(graph: str) -> list[dict[str, Any]]:
    """The demo cases a workflow ships, if any."""
    path = PROJECT_ROOT / "nodes" / graph / "demo_tickets.json"
    return list(json.loads(path.read_text())) if path.exists() else []


def _gates(result: ThreadReport) -> str:
    verdicts = gate_verdicts(result.values)
    return ", ".join(f"{v.gate} {'✓' if v.passed else '✗'}" for v in verdicts) or "-"


def _where(result: ThreadReport) -> str:
    if result.interrupts:
        pending = result.interrupts[0]
        value = pending.value
        action = value["action_requests"][0]["name"] if is_hitl_request(value) else "a question"
        return f"waiting at {pending.node} ({action})"
    summary = summarize(load_workflow(result.graph).state_schema, result.values)
    return summary.outcome or result.status


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


async def run_demo(db_url: str | None) -> int:
    """Run every demo case; exit 1 if any case did not end where it should.

    Refunds are paid at a FAKE payment service started for the demo (unless
    `WAYPOINT_PROVIDER_PAYMENTS_URL` names a provider already).
    """
    with fake_payment_provider() as fake:
        async with open_stores(db_url):  # opened once, reused by every run below
            status = await _run_cases(db_url)
        if fake is not None:
            applied = fake.applied()
            render.console.print(
                f"\nThe FAKE payment service at {fake.url} applied {applied['payments']} "
                "payment(s), each under its refund's business key (Idempotency-Key)."
            )
        return status


async def _run_cases(db_url: str | None) -> int:
    parsed = parse_db_url(db_url)
    render.console.print(f"[bold]Waypoint demo[/] on {parsed.redacted} (offline providers)\n")
    table = Table("case", "subject", "gates", "where it went", "thread")
    answered: list[tuple[dict[str, Any], ThreadReport]] = []
    wrong = 0
    run_tag = uuid.uuid4().hex[:6]
    for graph in workflow_names():
        for number, case in enumerate(demo_cases(graph), start=1):
            thread = f"demo-{graph}-{number}-{run_tag}"
            result = await start_run(graph, case["input"], thread_id=thread, db_url=db_url)
            ok = result.status == case["expect"]
            wrong += not ok
            mark = "" if ok else f" [red](expected {case['expect']})[/]"
            subject = summarize(load_workflow(graph).state_schema, result.values).subject
            table.add_row(
                escape(str(case["case"])),
                escape(subject or graph),
                _gates(result),
                escape(_where(result)) + mark,
                thread,
            )
            if "answer" in case and result.status == "waiting":
                answered.append((case, result))
    render.console.print(table)
    for case, waiting in answered:
        decision = case["answer"]["decisions"][0]["type"]
        render.console.print(
            f"\nA human answers [bold]{decision}[/] to {waiting.thread_id} ({case['case']}):"
        )
        after = await resume_thread(waiting.thread_id, case["answer"], db_url=db_url)
        wrong += after.status != "completed"
        render.report(after)
    example = answered[0][1].thread_id if answered else "THREAD"
    db_flag = f" --db {parsed.redacted}" if db_url else ""
    render.console.print(
        "\nInspect them:\n"
        f"  waypoint threads{db_flag}\n"
        f"  waypoint status {example}{db_flag} --json\n"
        f"  waypoint resume THREAD --approve | --reject --reason TEXT | --edit JSON | "
        f"--respond TEXT{db_flag}"
    )
    if wrong:
        render.errors.print(f"[red]{wrong} demo case(s) did not end as expected[/]")
        return 1
    return 0

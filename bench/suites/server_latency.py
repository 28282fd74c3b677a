"""Server latency, from `bench/server_latency.py`, in the main run: the CLI, `langgraph dev`, Aegra.

One `support` run to its approval interrupt (C-200/O-2), on a fresh Postgres database. Each
server is started as a real process, measured with the official SDK (`runs.stream`, a new thread
per run) and stopped. Whatever cannot run here is a row saying why, never a silent gap:

- no Postgres: nothing is measured (every row needs the database);
- Aegra: needs `.venv-aegra` (Python >= 3.12, built by `scripts/aegra-env.sh`, which this suite
  never runs: building takes minutes) and Redis; quick mode skips it (setup and two instances
  cost about a minute);
- `langgraph dev`: needs the `langgraph` CLI in this environment; quick mode measures a small
  sample without throughput.

A server that fails to start or to serve becomes a row with the error and its log's path; the
rest of the run goes on.
"""

from __future__ import annotations

import secrets
import statistics
import tempfile
from pathlib import Path

from bench.context import BenchContext
from bench.databases import admin_url
from bench.registry import Row, Section, benchmark
from bench.server_latency import (
    AEGRA_VENV,
    Measured,
    aegra_problem,
    dev_problem,
    fresh_database,
    measure_aegra,
    measure_cli,
    measure_dev,
)

FULL = (10, 4, 1)
"""(sequential runs per row, concurrent clients for throughput, whole CLI processes)."""
QUICK = (3, 0, 0)
"""The same for `--quick`: a small sample, no throughput, no CLI process."""
COLUMNS = ["how", "n", "p50 ms", "p90 ms", "first event p50 ms", "runs/s", "vs cli p50", "notes"]


def _skipped(how: str, why: str) -> Row:
    return {"how": how, "n": "0", "notes": f"not measured: {why}"}


def _row(measured: Measured, cli: float | None) -> Row:
    row: Row = dict(measured.row())
    if cli and measured.latency and measured.name != "cli":
        row["vs cli p50"] = f"{statistics.median(measured.latency) / cli:.2f}x"
    elif measured.name == "cli":
        row["vs cli p50"] = "1.00x"
    return row


@benchmark("server-latency", order=80)
async def server_latency(ctx: BenchContext) -> Section:
    runs, clients, processes = QUICK if ctx.quick else FULL
    section = Section(
        title="servers: one support run to its approval interrupt (C-200/O-2), CLI vs servers",
        columns=COLUMNS,
        notes=[
            f"{runs} sequential runs per row after a warm-up (p50/p90 of request to end of "
            "stream; first event = to the first streamed event); "
            + (
                f"runs/s = throughput with {clients} concurrent clients, each running "
                f"{max(2, runs // clients)} back to back."
                if clients
                else "no throughput in quick mode."
            ),
            "cli = `start_run` in-process (plus whole `waypoint run` processes in full mode); "
            "servers = `runs.stream` through the SDK, a new thread per run; same fresh Postgres "
            "database for Waypoint's tables (langgraph dev keeps threads in memory).",
        ],
    )
    if ctx.pg_url is None:
        section.rows.append(_skipped("all", f"needs Postgres ({ctx.pg_problem})"))
        return section
    logs = Path(tempfile.mkdtemp(prefix="waypoint-bench-servers-"))
    token = secrets.token_urlsafe(24)
    results: list[Measured] = []
    with fresh_database(admin_url()) as db_url:
        cli = await measure_cli(db_url, runs, clients, processes)
        results.append(cli)
        section.rows.append(_row(cli, None))
        cli_p50 = statistics.median(cli.latency)
        why_not_dev = dev_problem()
        if why_not_dev is not None:
            section.rows.append(_skipped("langgraph dev", why_not_dev))
        else:
            try:
                dev = await measure_dev(db_url, token, runs, clients, logs)
            except (RuntimeError, OSError) as exc:
                section.rows.append(_skipped("langgraph dev", f"failed: {exc}"))
            else:
                results.append(dev)
                section.rows.append(_row(dev, cli_p50))
        why_not_aegra = (
            "quick mode (Aegra's setup and two instances take about a minute; run the full "
            "mode or `python -m bench.server_latency`)"
            if ctx.quick
            else aegra_problem()
        )
        if why_not_aegra is not None:
            section.rows.append(_skipped("aegra x1, x2", why_not_aegra))
        else:
            python = str(AEGRA_VENV / "bin" / "python")
            try:
                aegra = await measure_aegra(db_url, token, python, runs, clients, logs)
            except (RuntimeError, OSError) as exc:
                section.rows.append(_skipped("aegra x1, x2", f"failed: {exc}"))
            else:
                results += aegra
                section.rows += [_row(m, cli_p50) for m in aegra]
    section.notes.append(f"Server logs: {logs}")
    section.data = {m.name: dict(m.__dict__) for m in results}
    return section

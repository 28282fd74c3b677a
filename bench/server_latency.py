"""`runs.stream` latency and throughput on `langgraph dev` and Aegra next to the CLI, in one run.

The same `support` run (ticket C-200 / O-2, to its approval interrupt) is measured several ways,
one after the other in one process, on one fresh Postgres database (Waypoint's tables; Aegra's
threads and checkpoints too):

- `cli`: `waypoint.runner.start_run`, what `waypoint run` executes (in-process, so without the
  interpreter start-up), plus a few real `waypoint run` processes for the end-to-end figure;
- `langgraph dev`: `runs.stream` on the local development server (in-memory threads and
  checkpoints, `--no-reload`), a new thread per run;
- `aegra x1`: `runs.stream` on one Aegra instance (Redis mode), a new thread per run;
- `aegra x2`: the same through two instances sharing Postgres + Redis, clients alternating
  between them as a round-robin load balancer would.

Latency: sequential runs, request to the end of the stream (and to its first event). Throughput:
`clients` concurrent clients, each running `runs // clients` (at least 2) back to back; runs per
second of wall time. Timings are printed, never asserted. Run it with
`python -m bench.server_latency [--quick] [--no-dev] [--no-aegra]`; it builds `.venv-aegra`
(`scripts/aegra-env.sh`) when needed. `python -m bench` runs it too (`bench/suites/
server_latency.py`), but never builds that environment: without it the Aegra rows are skipped
with a note (`aegra_problem`).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

ROOT = Path(__file__).resolve().parent.parent
TICKET = {
    "ticket_id": "T-200",
    "customer_id": "C-200",
    "order_id": "O-2",
    "message": "The chair is damaged, please refund it.",
}
ADMIN_URL = os.environ.get("WAYPOINT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("WAYPOINT_TEST_REDIS", "redis://127.0.0.1:6379/0")
AEGRA_VENV = ROOT / ".venv-aegra"
AEGRA_LOCK = ROOT / "serve" / "aegra.lock"
LANGGRAPH_CLI = Path(sys.executable).parent / "langgraph"


@dataclass
class Measured:
    """One way of running the support run: latencies (seconds) and a throughput figure."""

    name: str
    latency: list[float] = field(default_factory=list)
    first_event: list[float] = field(default_factory=list)
    throughput: float | None = None
    """Runs per second with `clients` concurrent clients."""
    notes: str = ""

    def row(self) -> dict[str, str]:
        """The table row, formatted."""

        def ms(values: list[float], q: float) -> str:
            if not values:
                return "-"
            ordered = sorted(values)
            index = min(len(ordered) - 1, round(q * (len(ordered) - 1)))
            return f"{ordered[index] * 1000:.0f}"

        return {
            "how": self.name,
            "n": str(len(self.latency)),
            "p50 ms": ms(self.latency, 0.5),
            "p90 ms": ms(self.latency, 0.9),
            "first event p50 ms": ms(self.first_event, 0.5),
            "runs/s": f"{self.throughput:.2f}" if self.throughput else "-",
            "notes": self.notes,
        }


def _redis_reachable(url: str) -> bool:
    rest = url.removeprefix("redis://").split("/", 1)[0]
    host, _, port = rest.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port or 6379)), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except (OSError, ValueError):
        return False


def aegra_problem() -> str | None:
    """Why Aegra cannot be measured right now without building anything, or None when it can.

    `.venv-aegra` must exist and match `serve/aegra.lock` (the stamp `scripts/aegra-env.sh`
    writes), and Redis must answer at `WAYPOINT_TEST_REDIS`.
    """
    python = AEGRA_VENV / "bin" / "python"
    stamp = AEGRA_VENV / ".waypoint-installed"
    if not python.exists():
        return (
            ".venv-aegra is missing: build it with `scripts/aegra-env.sh` (Aegra needs Python "
            ">= 3.12)"
        )
    want = hashlib.sha256(AEGRA_LOCK.read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text().strip() != want:
        return ".venv-aegra is older than serve/aegra.lock: refresh it with `scripts/aegra-env.sh`"
    if not _redis_reachable(REDIS_URL):
        return f"no Redis answers at {REDIS_URL} (WAYPOINT_TEST_REDIS); Aegra needs it"
    return None


def aegra_python() -> str:
    """Build (or reuse) `.venv-aegra` with `scripts/aegra-env.sh`; its interpreter's path."""
    build = subprocess.run(
        [str(ROOT / "scripts" / "aegra-env.sh")], cwd=ROOT, capture_output=True, check=False
    )
    if build.returncode != 0:
        raise RuntimeError(f"cannot build .venv-aegra: {build.stderr.decode()[-2000:]}")
    return build.stdout.decode().strip().splitlines()[-1]


def dev_problem() -> str | None:
    """Why `langgraph dev` cannot be started, or None when it can."""
    if not LANGGRAPH_CLI.exists():
        return f"no langgraph CLI at {LANGGRAPH_CLI} (the `langgraph-cli[inmem]` dependency)"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def fresh_database(admin: str = ADMIN_URL) -> Iterator[str]:
    """A new database on the server of `admin` (dropped after); yields its URL."""
    name = f"waypoint_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin.partition("?")[0].rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _aegra_env(db_url: str, keys: str, prefix: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LANGSMITH_", "LANGCHAIN_", "WAYPOINT_PAUSE"))
    }
    env.update(
        {
            "DATABASE_URL": db_url,
            "WAYPOINT_DB_URL": db_url,
            "REDIS_URL": REDIS_URL,
            "REDIS_BROKER_ENABLED": "true",
            "REDIS_CHANNEL_PREFIX": f"{prefix}:run:",
            "WORKER_QUEUE_KEY": f"{prefix}:jobs",
            "WAYPOINT_API_KEYS": keys,
            "CRON_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
            "LANGSMITH_TRACING": "false",
        }
    )
    return env


@dataclass
class _Instance:
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def _wait_healthy(instance: _Instance, path: str, log: Path, what: str) -> _Instance:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if instance.process.poll() is not None:
            raise RuntimeError(f"{what} exited with {instance.process.returncode}; see {log}")
        try:
            httpx.get(f"{instance.url}{path}", timeout=2)
            return instance
        except httpx.HTTPError:
            time.sleep(0.2)
    instance.stop()
    raise RuntimeError(f"{what} did not start; see {log}")


def _start_dev(db_url: str, keys: str, log: Path) -> _Instance:
    """`langgraph dev` on a free loopback port: no reload, no browser, in-memory threads."""
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LANGSMITH_", "LANGCHAIN_", "WAYPOINT_PAUSE", "OTEL_"))
    }
    env.update(
        {
            "LANGGRAPH_CLI_NO_ANALYTICS": "1",
            "LANGGRAPH_NO_VERSION_CHECK": "1",
            "LANGGRAPH_DISABLE_FILE_PERSISTENCE": "true",
            "LANGGRAPH_STRICT_MSGPACK": "true",
            "LANGSMITH_TRACING": "false",
            "WAYPOINT_DB_URL": db_url,
            "WAYPOINT_API_KEYS": keys,
        }
    )
    command = [str(LANGGRAPH_CLI), "dev", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*command, "--no-browser", "--no-reload"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    instance = _Instance(url=f"http://127.0.0.1:{port}", process=process)
    return _wait_healthy(instance, "/ok", log, "langgraph dev")


def _start_instance(env: dict[str, str], log: Path) -> _Instance:
    port = _free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(ROOT / "scripts" / "aegra-serve.sh"), "run"],
            cwd=ROOT,
            env={**env, "PORT": str(port), "HOST": "127.0.0.1"},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    instance = _Instance(url=f"http://127.0.0.1:{port}", process=process)
    return _wait_healthy(instance, "/health", log, "aegra")


def _forget_redis_keys(python: str, prefix: str) -> None:
    code = (
        "import redis, sys\n"
        "client = redis.Redis.from_url(sys.argv[1])\n"
        "for key in client.scan_iter(match=sys.argv[2] + '*', count=1000):\n"
        "    client.delete(key)\n"
    )
    subprocess.run([python, "-c", code, REDIS_URL, prefix], timeout=60, check=False)


async def _stream_once(client: LangGraphClient) -> tuple[float, float]:
    thread_id = (await client.threads.create())["thread_id"]
    start = time.perf_counter()
    first: float | None = None
    async for part in client.runs.stream(thread_id, "support", input=TICKET):
        if first is None:
            first = time.perf_counter() - start
        if part.event == "error":
            raise RuntimeError(f"run failed: {part.data}")
    return time.perf_counter() - start, first or 0.0


async def _latency(
    run_once: Callable[[int], Awaitable[tuple[float, float]]], runs: int, warmup: int
) -> tuple[list[float], list[float]]:
    for index in range(warmup):
        await run_once(index)
    latencies, firsts = [], []
    for index in range(runs):
        total, first = await run_once(index)
        latencies.append(total)
        firsts.append(first)
    return latencies, firsts


async def _throughput(
    run_once: Callable[[int], Awaitable[Any]], clients: int, runs_each: int
) -> float:
    async def client(number: int) -> None:
        for index in range(runs_each):
            await run_once(number * runs_each + index)

    start = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return clients * runs_each / (time.perf_counter() - start)


async def measure_cli(db_url: str, runs: int, clients: int, processes: int) -> Measured:
    """The `cli` row: `start_run` in-process, and `processes` whole `waypoint run` processes."""
    from waypoint.runner import start_run

    async def run_once(index: int) -> tuple[float, float]:
        start = time.perf_counter()
        report = await start_run("support", TICKET, db_url=db_url)
        assert report.status == "waiting", report.status
        return time.perf_counter() - start, 0.0

    latencies, _ = await _latency(run_once, runs, warmup=2)
    rate = await _throughput(run_once, clients, max(2, runs // clients)) if clients else None
    walls = []
    command = [sys.executable, "-m", "waypoint", "run", "support", "--input", json.dumps(TICKET)]
    for _ in range(processes):
        start = time.perf_counter()
        done = subprocess.run(
            [*command, "--db", db_url, "--json"],
            cwd=ROOT,
            capture_output=True,
            check=False,
            timeout=120,
        )
        walls.append(time.perf_counter() - start)
        assert done.returncode == 3, done.stderr
    notes = (
        f"in-process runner; a whole `waypoint run` process: p50 "
        f"{statistics.median(walls) * 1000:.0f} ms (n={len(walls)})"
        if walls
        else "in-process runner"
    )
    return Measured("cli", latency=latencies, throughput=rate, notes=notes)


async def _measure_server(
    name: str, urls: list[str], token: str, runs: int, clients: int, *, warmup: int = 3
) -> Measured:
    pool = [
        get_client(url=url, api_key=None, headers={"Authorization": f"Bearer {token}"})
        for url in urls
    ]

    async def run_once(index: int) -> tuple[float, float]:
        return await _stream_once(pool[index % len(pool)])

    latencies, firsts = await _latency(run_once, runs, warmup=warmup)
    rate = await _throughput(run_once, clients, max(2, runs // clients)) if clients else None
    return Measured(name, latency=latencies, first_event=firsts, throughput=rate)


async def measure_dev(db_url: str, token: str, runs: int, clients: int, logs: Path) -> Measured:
    """The `langgraph dev` row: start the server, measure `runs.stream`, stop it."""
    dev = _start_dev(db_url, f"{token}:bench", logs / "langgraph-dev.log")
    try:
        measured = await _measure_server("langgraph dev", [dev.url], token, runs, clients, warmup=1)
    finally:
        dev.stop()
    measured.notes = "in-memory threads and checkpoints"
    return measured


async def measure_aegra(
    db_url: str, token: str, python: str, runs: int, clients: int, logs: Path
) -> list[Measured]:
    """The `aegra x1` and `aegra x2` rows: set up the database, start instances, measure, stop."""
    prefix = f"waypoint-bench-{uuid.uuid4().hex[:8]}"
    env = _aegra_env(db_url, f"{token}:bench", prefix)
    setup = subprocess.run(
        [str(ROOT / "scripts" / "aegra-serve.sh"), "setup"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=False,
    )
    if setup.returncode != 0:
        raise RuntimeError(f"aegra setup failed: {setup.stdout.decode()[-2000:]}")
    results: list[Measured] = []
    first = _start_instance(env, logs / "aegra-a.log")
    second: _Instance | None = None
    try:
        results.append(await _measure_server("aegra x1", [first.url], token, runs, clients))
        second = _start_instance(env, logs / "aegra-b.log")
        urls = [first.url, second.url]
        results.append(await _measure_server("aegra x2", urls, token, runs, clients))
    finally:
        first.stop()
        if second is not None:
            second.stop()
        _forget_redis_keys(python, prefix)
    return results


async def measure(
    *,
    runs: int,
    clients: int,
    processes: int,
    logs: Path,
    dev: bool = True,
    aegra: str | None = None,
) -> list[Measured]:
    """Measure the CLI, then the servers asked for, on one fresh database.

    Args:
        runs: sequential runs per row (after a warm-up).
        clients: concurrent clients for the throughput figure (0: no throughput).
        processes: whole `waypoint run` processes timed for the CLI row (0: none).
        logs: folder for the servers' logs.
        dev: measure `langgraph dev`.
        aegra: `.venv-aegra`'s interpreter (see `aegra_python`); None: no Aegra rows.
    """
    token = secrets.token_urlsafe(24)
    with fresh_database() as db_url:
        results = [await measure_cli(db_url, runs, clients, processes)]
        if dev:
            results.append(await measure_dev(db_url, token, runs, clients, logs))
        if aegra is not None:
            results += await measure_aegra(db_url, token, aegra, runs, clients, logs)
        return results


def render(results: list[Measured], *, runs: int, clients: int) -> str:
    """A Markdown table of the figures."""
    rows = [m.row() for m in results]
    columns = list(rows[0])
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
        *("| " + " | ".join(row[c] for c in columns) + " |" for row in rows),
    ]
    cli = statistics.median(results[0].latency)
    ratios = ", ".join(
        f"{m.name} p50 = {statistics.median(m.latency) / cli:.1f}x the CLI's" for m in results[1:]
    )
    lines += [
        "",
        f"{runs} sequential runs per row after a warm-up; throughput with {clients} concurrent "
        f"clients. {ratios}. Machine: {os.cpu_count()} CPUs.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.server_latency`: see the module docstring and `--help`."""
    parser = argparse.ArgumentParser(prog="python -m bench.server_latency")
    parser.add_argument("--quick", action="store_true", help="fewer runs (development)")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--no-dev", action="store_true", help="skip `langgraph dev`")
    parser.add_argument("--no-aegra", action="store_true", help="skip Aegra")
    parser.add_argument("--json", action="store_true", help="print raw seconds as JSON")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    runs = args.runs or (8 if args.quick else 30)
    os.environ.setdefault("LANGGRAPH_STRICT_MSGPACK", "true")
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / f"waypoint-bench-{uuid.uuid4().hex[:6]}"
    logs.mkdir(parents=True, exist_ok=True)
    results = asyncio.run(
        measure(
            runs=runs,
            clients=args.clients,
            processes=2 if args.quick else 5,
            logs=logs,
            dev=not args.no_dev,
            aegra=None if args.no_aegra else aegra_python(),
        )
    )
    if args.json:
        payload = [m.__dict__ for m in results]
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        sys.stdout.write(render(results, runs=runs, clients=args.clients) + "\n")
        sys.stdout.write(f"(server logs: {logs})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

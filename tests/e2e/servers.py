"""Real LangGraph-protocol servers for the e2e tests: `langgraph dev` and Aegra, as subprocesses.

Each server runs on a free loopback port with its log in a temporary folder (outside the project,
so nothing it writes is watched). Tests drive them with the official `langgraph_sdk` client.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient

from tests.conftest import PROJECT_ROOT, missing, scratch_database
from tests.helpers import query

REDIS_URL = os.environ.get("WAYPOINT_TEST_REDIS", "redis://127.0.0.1:6379/0")
"""The Redis the Aegra instances under test share (each cluster under a key prefix of its own)."""

# Variables that must not leak from the developer's shell into a server under test.
_SCRUBBED_PREFIXES = ("LANGSMITH_", "LANGCHAIN_", "WAYPOINT_PAUSE", "OTEL_")
_SCRUBBED = {
    "LANGGRAPH_API_KEY",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "WAYPOINT_API_KEYS",
    "WAYPOINT_API_KEYS_FILE",
    "WAYPOINT_ROLES",
    "WAYPOINT_ROLES_FILE",
    "DATABASE_URL",
    "REDIS_URL",
    "PORT",
    "HOST",
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The test process's environment without credentials or settings of the developer's shell."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _SCRUBBED and not key.startswith(_SCRUBBED_PREFIXES)
    }
    env.update(
        {
            "LANGGRAPH_CLI_NO_ANALYTICS": "1",
            "LANGGRAPH_NO_VERSION_CHECK": "1",
            "LANGGRAPH_STRICT_MSGPACK": "true",
            "LANGSMITH_TRACING": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


@dataclass(frozen=True)
class User:
    """A test user and the token that authenticates it."""

    name: str
    token: str


@dataclass(frozen=True)
class Users:
    """Users with their own tokens, and the `WAYPOINT_API_KEYS` value naming them.

    Carol reviews `support` where the server is given `roles` (`WAYPOINT_ROLES`).
    """

    alice: User = field(default_factory=lambda: User("alice", secrets.token_urlsafe(24)))
    bob: User = field(default_factory=lambda: User("bob", secrets.token_urlsafe(24)))
    carol: User = field(default_factory=lambda: User("carol", secrets.token_urlsafe(24)))

    @property
    def api_keys(self) -> str:
        """`TOKEN:USER,TOKEN:USER` for the server's environment."""
        return ",".join(f"{u.token}:{u.name}" for u in (self.alice, self.bob, self.carol))

    @property
    def roles(self) -> str:
        """`WAYPOINT_ROLES` for the server's environment: Carol reviews `support`."""
        return f"{self.carol.name}=reviewer:support"


@dataclass
class Server:
    """One server process under test."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        """The server's process id (the process that runs the graphs)."""
        return self.process.pid

    def log_tail(self, lines: int = 60) -> str:
        """The end of the server's log, for failure messages."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process.poll() is None

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the server's process group (it was started in its own session), then SIGKILL."""
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout)

    def kill9(self) -> None:
        """SIGKILL the server process itself, as a crash would."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=15)

    def client(self, user: User | None, *, scheme: str = "bearer") -> SyncLangGraphClient:
        """An SDK client for `user` (None: no credentials at all)."""
        if user is None:
            return get_sync_client(url=self.url, api_key=None, timeout=60)
        if scheme == "bearer":
            return get_sync_client(
                url=self.url,
                api_key=None,
                headers={"Authorization": f"Bearer {user.token}"},
                timeout=60,
            )
        return get_sync_client(url=self.url, api_key=user.token, timeout=60)


def launch(
    name: str,
    command: list[str],
    *,
    env: Mapping[str, str],
    port: int,
    log_dir: Path,
    cwd: Path = PROJECT_ROOT,
) -> Server:
    """Start `command` in its own session (so it and its children can be stopped together)."""
    log = log_dir / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(name=name, url=f"http://127.0.0.1:{port}", process=process, log=log)


def wait_ready(server: Server, timeout: float = 120) -> Server:
    """Wait until the server answers HTTP (any status) on its port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(
                f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            httpx.get(f"{server.url}/ok", timeout=2)
            return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(
        f"{server.name} did not answer on {server.url} in {timeout}s:\n{server.log_tail()}"
    )


def served_kit_config(folder: Path, graphs: tuple[str, ...]) -> Path:
    """A `langgraph.json` in `folder` serving kit graphs with the project's auth and app.

    The kit's own `tests/kit/langgraph.json` has neither; a server started with this one runs
    the kit graphs named (through `waypoint.serving`, with `WAYPOINT_LANGGRAPH_JSON` pointing
    at the kit's file) behind `waypoint/server/auth.py`, with the served app and its workers.
    """
    config = {
        "python_version": "3.11",
        "dependencies": [str(PROJECT_ROOT)],
        "graphs": {name: f"{PROJECT_ROOT / 'waypoint' / 'serving.py'}:{name}" for name in graphs},
        "auth": {"path": f"{PROJECT_ROOT / 'waypoint' / 'server' / 'auth.py'}:auth"},
        "http": {"app": "waypoint.server.app:app", "disable_mcp": True, "disable_a2a": True},
    }
    path = folder / "langgraph.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def _absolute(spec: str) -> str:
    """A `langgraph.json` path (`./x.py:obj`, `./dir`, `.env`) made absolute; a module stays."""
    path, sep, attr = spec.partition(":")
    if spec.startswith(".") or path.endswith(".py"):
        return f"{(PROJECT_ROOT / path).resolve()}{sep}{attr}"
    return spec


def served_project_config(folder: Path) -> Path:
    """The project's `langgraph.json`, its paths made absolute, written into `folder`.

    `langgraph dev` keeps its threads, checkpoints and Store in `.langgraph_api/` under the
    folder it starts in, and reloads them at the next start: a server started in the project
    inherits every earlier session's state. Its `disable_persistence` cannot be set from
    outside: langgraph-cli reads it from `langgraph.json` only after validating the file,
    which drops the key, and then overrides `LANGGRAPH_DISABLE_FILE_PERSISTENCE` with it
    (langgraph-cli 0.4 / langgraph-api 0.16). So the tests start it in a folder of their own,
    from this copy, and its files go with that folder.
    """
    config = json.loads((PROJECT_ROOT / "langgraph.json").read_text())
    config["dependencies"] = [_absolute(dep) for dep in config.get("dependencies", [])]
    for name, graph in config.get("graphs", {}).items():
        if isinstance(graph, dict):
            graph["path"] = _absolute(graph["path"])
        else:
            config["graphs"][name] = _absolute(graph)
    for section in ("auth", "checkpointer", "store"):
        if isinstance(config.get(section), dict) and "path" in config[section]:
            config[section]["path"] = _absolute(config[section]["path"])
    if isinstance(config.get("http"), dict) and "app" in config["http"]:
        config["http"]["app"] = _absolute(config["http"]["app"])
    if isinstance(config.get("env"), str):
        config["env"] = _absolute(config["env"])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "langgraph.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def start_langgraph_dev(
    *, env: Mapping[str, str], log_dir: Path, config: Path | None = None
) -> Server:
    """`langgraph dev` on a free loopback port: no reload, no browser, in-memory threads.

    `config` is another `langgraph.json` (default: the project's, copied into `log_dir` by
    `served_project_config`). The server starts in the config's folder, so what it keeps in
    `.langgraph_api/` stays there and never reaches another session's server.
    """
    port = free_port()
    langgraph = Path(sys.executable).parent / "langgraph"
    config = config or served_project_config(log_dir / "served")
    command = [
        str(langgraph),
        "dev",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-browser",
        "--no-reload",
        "--config",
        str(config),
    ]
    cwd = config.parent  # its paths are relative to it, and `.langgraph_api/` goes there
    return wait_ready(
        launch("langgraph-dev", command, env=server_env(env), port=port, log_dir=log_dir, cwd=cwd)
    )


def aegra_python() -> str:
    """Build (or reuse) `.venv-aegra` with `scripts/aegra-env.sh`; its interpreter's path."""
    script = PROJECT_ROOT / "scripts" / "aegra-env.sh"
    done = subprocess.run(
        [str(script)], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=900, check=False
    )
    if done.returncode != 0:
        missing(f"cannot build the Aegra environment (.venv-aegra): {done.stderr.strip()[-2000:]}")
    return done.stdout.strip().splitlines()[-1]


def redis_reachable(url: str) -> bool:
    """Whether a Redis answers PING at `url` (redis://host:port/db)."""
    rest = url.removeprefix("redis://").split("/", 1)[0]
    host, _, port = rest.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port or 6379)), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_forget(python: str, url: str, prefix: str) -> None:
    """Delete the keys under `prefix` (they expire within the hour anyway), with Aegra's redis."""
    code = (
        "import redis, sys\n"
        "client = redis.Redis.from_url(sys.argv[1])\n"
        "for key in client.scan_iter(match=sys.argv[2] + '*', count=1000):\n"
        "    client.delete(key)\n"
    )
    subprocess.run([python, "-c", code, url, prefix], timeout=60, check=False, capture_output=True)


def aegra_setup(env: Mapping[str, str], log_dir: Path) -> None:
    """`scripts/aegra-serve.sh setup`: database, Aegra's migrations, the checkpoint fence."""
    script = PROJECT_ROOT / "scripts" / "aegra-serve.sh"
    log = log_dir / "aegra-setup.log"
    with log.open("wb") as out:
        done = subprocess.run(
            [str(script), "setup"],
            cwd=PROJECT_ROOT,
            env=server_env(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=600,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"aegra setup failed:\n{log.read_text(errors='replace')[-4000:]}")


def launch_aegra(name: str, *, env: Mapping[str, str], log_dir: Path) -> Server:
    """Start one Aegra instance (`scripts/aegra-serve.sh run`) on a free loopback port.

    The script `exec`s uvicorn, so the process is the instance that runs the graphs.
    """
    port = free_port()
    script = PROJECT_ROOT / "scripts" / "aegra-serve.sh"
    full_env = server_env({**env, "PORT": str(port), "HOST": "127.0.0.1"})
    return launch(name, [str(script), "run"], env=full_env, port=port, log_dir=log_dir)


@dataclass
class AegraCluster:
    """Aegra instances on one scratch Postgres database and one Redis, as `aegra_cluster` runs them.

    `servers` holds every instance started, in order: the ones `aegra_cluster` was asked for,
    then any `start` added (a killed one stays listed); all are stopped with the cluster.
    """

    db_url: str
    env: dict[str, str]
    logs: Path
    servers: list[Server] = field(default_factory=list)

    def start(self, name: str | None = None, extra: Mapping[str, str] | None = None) -> Server:
        """One more instance (the cluster's environment, then `extra`), once it answers.

        Named `aegra-a`, `aegra-b`, ... by default: its log is `logs/NAME.log`.
        """
        name = name or f"aegra-{chr(ord('a') + len(self.servers))}"
        server = launch_aegra(name, env={**self.env, **(extra or {})}, log_dir=self.logs)
        self.servers.append(server)
        return wait_ready(server)


@contextlib.contextmanager
def aegra_cluster(
    db_prefix: str,
    logs: Path,
    *,
    users: Users,
    extra: Mapping[str, str] | None = None,
    instances: int = 1,
    served: tuple[str, ...] | None = None,
) -> Iterator[AegraCluster]:
    """`instances` Aegra instances on a new database (`DB_PREFIX_<hex>`) and Redis, running.

    Their environment: the database (Aegra's and Waypoint's), Redis under a key prefix of this
    cluster's own, `users`' tokens, two workers, no crons, small connection pools, then `extra`;
    `served` names kit graphs to serve (`served_kit_config`, written into `logs`) instead of the
    project's `langgraph.json`. `logs` holds the setup's and every instance's log. Afterwards
    every instance is stopped (woken first, in case a test left it SIGSTOPped), the Redis keys
    deleted and the database dropped. A missing Redis, Postgres or Python 3.12 fails under
    CI=true and skips elsewhere.
    """
    if not redis_reachable(REDIS_URL):
        missing(f"Redis unreachable at {REDIS_URL} (set WAYPOINT_TEST_REDIS)")
    python = aegra_python()
    prefix = f"{db_prefix.replace('_', '-')}-{uuid.uuid4().hex[:8]}"
    with scratch_database(db_prefix) as db_url:
        env = {
            "DATABASE_URL": db_url,
            "WAYPOINT_DB_URL": db_url,
            "REDIS_URL": REDIS_URL,
            "REDIS_BROKER_ENABLED": "true",
            "REDIS_CHANNEL_PREFIX": f"{prefix}:run:",
            "WORKER_QUEUE_KEY": f"{prefix}:jobs",
            "WAYPOINT_API_KEYS": users.api_keys,
            "WORKER_COUNT": "2",
            "CRON_ENABLED": "false",
            "LANGGRAPH_MIN_POOL_SIZE": "1",
            "LANGGRAPH_MAX_POOL_SIZE": "4",
            "SQLALCHEMY_POOL_SIZE": "2",
            "SQLALCHEMY_MAX_OVERFLOW": "2",
        }
        if served:
            env["AEGRA_CONFIG"] = str(served_kit_config(logs, served))
        env.update(extra or {})
        aegra_setup(env, logs)
        cluster = AegraCluster(db_url=db_url, env=env, logs=logs)
        try:
            # One after the other: each instance registers the graphs' assistants at startup,
            # and two doing it at once can insert the same row (the second's startup fails).
            for _ in range(instances):
                cluster.start()
            yield cluster
        finally:
            for server in cluster.servers:
                if server.alive():
                    os.kill(server.pid, signal.SIGCONT)
                server.stop()
            redis_forget(python, REDIS_URL, prefix)


def wait_for_file(path: Path, timeout: float) -> str:
    """Wait until `path` exists and has content; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and (text := path.read_text()).strip():
            return text
        time.sleep(0.05)
    raise TimeoutError(f"{path} did not appear within {timeout}s")


def status_code(exc: BaseException) -> int | None:
    """The HTTP status of an SDK error, if it carries a response."""
    response: Any = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def checkpoint_tree(db_url: str, thread_id: str) -> list[dict[str, Any]]:
    """The thread's root-namespace checkpoints as stored (id, parent, source), oldest first."""
    return query(
        db_url,
        "SELECT checkpoint_id, parent_checkpoint_id, metadata->>'source' AS source "
        "FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = '' ORDER BY checkpoint_id",
        (thread_id,),
    )


def branches(db_url: str, thread_id: str) -> dict[str | None, int]:
    """Parents with more than one child (None: more than one root): empty for a linear history."""
    children = Counter(row["parent_checkpoint_id"] for row in checkpoint_tree(db_url, thread_id))
    return {parent: n for parent, n in children.items() if n > 1}

"""Shared fixtures: real SQLite files, a real Postgres database per test session, the CLI.

Postgres comes from `WAYPOINT_TEST_PG` (default: the local server's `postgres` database). A fresh
database is created for the session and dropped after. With `CI=true` an unreachable Postgres
fails the tests that need it; elsewhere they are skipped and counted in one loud line at the end.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("WAYPOINT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"
_skipped_pg: list[str] = []


def _with_db(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def missing(capability: str) -> None:
    """A capability the tests need is not there: fail under CI, skip elsewhere."""
    if IN_CI:
        pytest.fail(f"{capability} (CI=true: a missing capability is a failure, not a skip)")
    pytest.skip(capability)


@contextlib.contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A new, empty Postgres database (`PREFIX_<hex>`), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        missing(f"Postgres unreachable at {ADMIN_URL}: {exc}")
    try:
        yield _with_db(ADMIN_URL, name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A fresh, empty database on the test Postgres server, dropped at the end."""
    with scratch_database("waypoint_test") as url:
        yield url


@pytest.fixture
def pg_url(pg_server_url: str) -> str:
    """The session's Postgres database (tests use unique thread ids, so they can share it).

    The demo CRM is put back as seeded first: refunds move its orders.
    """
    from tests.helpers import reset_demo_crm

    reset_demo_crm(pg_server_url)
    return pg_server_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file for one test."""
    return f"sqlite:///{tmp_path / 'waypoint.sqlite'}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that takes `db_url` runs on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'waypoint.sqlite'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(params=["sqlite", "postgres"])
def own_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Like `db_url`, but the Postgres database is this test's alone (for whole-database reads)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'waypoint.sqlite'}"
        return
    with scratch_database("waypoint_own") as url:
        yield url


def waypoint_cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
    unset: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """Run the real `waypoint` command in a new process (without the variables in `unset`)."""
    full_env = {**os.environ, "LANGGRAPH_STRICT_MSGPACK": "true", "COLUMNS": "200"}
    full_env.update(env or {})
    for name in unset:
        full_env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "waypoint", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or PROJECT_ROOT,
        timeout=timeout,
        check=False,
    )


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember Postgres tests that were skipped."""
    if report.skipped and "Postgres unreachable" in str(report.longrepr):
        _skipped_pg.append(report.nodeid)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One loud line when Postgres tests did not run."""
    if _skipped_pg:
        terminalreporter.write_line(
            f"!!! {len(_skipped_pg)} POSTGRES TEST(S) SKIPPED: Postgres unreachable at "
            f"{ADMIN_URL}; set WAYPOINT_TEST_PG or start Postgres !!!",
            red=True,
            bold=True,
        )


@pytest.fixture
def fake_chat_model(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Install a scripted fake chat model as the registry's model factory (the only fake allowed).

    Returns an installer: `install(answers)` → the `ToolCallingFakeModel` that will answer every
    `provider:model` request with `answers`, in order. Runs need the context
    `{"model": "fake:model"}`.
    """
    from tests.helpers import FakeModelFactory, ToolCallingFakeModel
    from waypoint.capabilities import registry

    def install(answers: Any) -> ToolCallingFakeModel:
        model = ToolCallingFakeModel(messages=iter(answers))
        monkeypatch.setattr(registry, "chat_model_factory", FakeModelFactory(model))
        return model

    return install


@pytest.fixture
def payments_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The FAKE payment service (`waypoint.fakes.payments`) in a thread, as the `payments`
    provider of this test and of the processes it starts (`WAYPOINT_PROVIDER_PAYMENTS_URL`)."""
    from waypoint.fakes.payments import start_in_thread

    service = start_in_thread(tmp_path / "payments-ledger.sqlite")
    monkeypatch.setenv("WAYPOINT_PROVIDER_PAYMENTS_URL", service.url)
    monkeypatch.setenv("WAYPOINT_PROVIDER_PAYMENTS_TIMEOUT", "2")
    yield service
    service.stop()

"""The benchmark's own databases: `waypoint_bench` on Postgres, SQLite files in a temp dir.

The Postgres server comes from `WAYPOINT_BENCH_PG` (default: the local server's `postgres`
database, used only to create and drop `waypoint_bench`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "waypoint_bench"


def admin_url() -> str:
    """The server to create the benchmark database on: `WAYPOINT_BENCH_PG`, else the default."""
    return os.environ.get("WAYPOINT_BENCH_PG") or DEFAULT_ADMIN_URL


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` instead (query string kept)."""
    base, _, tail = url.rpartition("/")
    _, sep, query = tail.partition("?")
    return f"{base}/{name}{sep}{query}"


def _recreate(admin: str) -> None:
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


def _drop(admin: str) -> None:
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')


@contextmanager
def bench_postgres() -> Iterator[tuple[str | None, str | None]]:
    """Create `waypoint_bench`; yield `(url, None)`, or `(None, why)` when Postgres is down."""
    admin = admin_url()
    try:
        _recreate(admin)
    except psycopg.OperationalError as exc:
        yield None, f"Postgres unreachable at {admin}: {str(exc).strip()}"
        return
    try:
        yield with_database(admin, BENCH_DB), None
    finally:
        _drop(admin)


@contextmanager
def sqlite_folder() -> Iterator[Path]:
    """A temporary folder for the SQLite files of one run, removed after."""
    folder = Path(tempfile.mkdtemp(prefix="waypoint-bench-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def server_version(url: str) -> str:
    """`SELECT version()` of the server at `url`."""
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SELECT version()").fetchone()
    return str(row[0]) if row else "unknown"

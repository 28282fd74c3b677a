"""Files Waypoint creates are its owner's alone, whatever the umask: real files, `os.stat`.

The SQLite database and its `-wal` / `-shm` files are 0600 and a folder made for them 0700;
trace files (`waypoint run --record`, `WAYPOINT_RECORD_DIR`, `write_trace`) are 0600.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import waypoint_cli
from tests.helpers import demo_input, run
from waypoint.evals.trace_format import TraceHeader, write_trace
from waypoint.persistence.stores import open_stores


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test under a permissive umask (022 unless parametrized), then restore it."""
    wanted = getattr(request, "param", 0o022)
    old = os.umask(wanted)
    try:
        yield wanted
    finally:
        os.umask(old)


def test_sqlite_database_wal_and_folder_are_private(tmp_path: Path, open_umask: int) -> None:
    folder = tmp_path / ".waypoint"
    database = folder / "waypoint.sqlite"

    async def check_while_open() -> None:
        async with open_stores(f"sqlite:///{database}") as stores:
            await stores.db.execute("CREATE TABLE probe (x INTEGER)")  # goes through the WAL
            for suffix in ("-wal", "-shm"):
                journal = database.with_name(database.name + suffix)
                assert journal.exists(), journal
                assert mode(journal) == 0o600, (journal, oct(mode(journal)))

    run(check_while_open())
    assert mode(folder) == 0o700, oct(mode(folder))
    assert mode(database) == 0o600, oct(mode(database))


@pytest.mark.parametrize("open_umask", [0o022, 0o077], indirect=True)
def test_a_written_trace_is_private(tmp_path: Path, open_umask: int) -> None:
    path = write_trace(tmp_path / "new" / "trace.jsonl", TraceHeader(graph="support"), [{}])
    assert mode(path) == 0o600, oct(mode(path))
    assert mode(path.parent) == 0o700, oct(mode(path.parent))


def test_traces_recorded_by_the_cli_and_the_server_switch_are_private(
    tmp_path: Path, open_umask: int
) -> None:
    record_dir = tmp_path / "records"
    done = waypoint_cli(
        "run", "support", "--input", json.dumps(demo_input("auto refund")),
        "--thread", "private-trace", "--record", str(tmp_path / "run.jsonl"),
        "--db", f"sqlite:///{tmp_path / 'waypoint.sqlite'}",
        env={"WAYPOINT_RECORD_DIR": str(record_dir)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert mode(tmp_path / "run.jsonl") == 0o600
    assert mode(record_dir) == 0o700
    assert mode(record_dir / "private-trace.jsonl") == 0o600

"""What every benchmark of one run shares: the mode, the sizes, and where the databases are."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Scale:
    """How much each benchmark measures; `--quick` shrinks every number."""

    runs: int
    """Timed runs per variant and case (graph runs, resumes)."""
    warmup: int
    """Untimed runs per variant before timing (imports, caches, connections)."""
    floor_ops: int
    """INSERT+COMMIT round trips timed for the database floor."""
    checkpoint_rounds: int
    """Passes over a recorded run's checkpoints when timing `saver.aput`."""
    concurrent_runs: int
    """Runs per concurrency level (1, 8, 32 at once)."""
    process_seconds: float
    """How long each worker process runs in the multi-process benchmark."""
    profile_runs: int
    """Runs of a workload profiled for a missed goal."""


QUICK = Scale(
    runs=12,
    warmup=2,
    floor_ops=200,
    checkpoint_rounds=3,
    concurrent_runs=32,
    process_seconds=3.0,
    profile_runs=10,
)
"""Development mode: the whole suite in under two minutes."""

FULL = Scale(
    runs=60,
    warmup=5,
    floor_ops=1000,
    checkpoint_rounds=10,
    concurrent_runs=128,
    process_seconds=6.0,
    profile_runs=30,
)
"""For the record (`docs/benchmarks.md`): several minutes on a 2-core machine."""


@dataclass
class BenchContext:
    """Settings and places shared by the benchmarks of one run."""

    quick: bool
    """`--quick` (development mode) or the full run."""
    scale: Scale
    """Sizes for this mode."""
    pg_url: str | None
    """The dedicated benchmark database (`waypoint_bench`), or None when Postgres is unreachable."""
    pg_problem: str | None
    """Why Postgres rows are missing, when `pg_url` is None."""
    sqlite_dir: Path
    """A temporary folder for SQLite files, removed at the end."""
    _files: set[str] = field(default_factory=set)

    def sqlite_url(self, name: str) -> str:
        """A fresh SQLite file URL under the temporary folder (unique per call)."""
        stem = f"{name}-{uuid.uuid4().hex[:6]}"
        self._files.add(stem)
        return f"sqlite:///{self.sqlite_dir / stem}.sqlite"

    def backends(self) -> list[str]:
        """The on-disk backends this run can measure: SQLite always, Postgres when reachable."""
        return ["sqlite", "postgres"] if self.pg_url else ["sqlite"]

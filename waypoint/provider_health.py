"""Provider health shared through the database, so a fresh process routes on what others saw.

Each process keeps its own live signals (`waypoint.routing.Router`) and writes them, one row per
provider and process, at most once per `FLUSH_SECONDS` (one batched upsert of the providers
that changed; a command-line run writes once, at its end). Routing among several providers
reads the other processes' rows (cached for `CACHE_SECONDS`) and ranks on both: latency and
error rate weighted by each process's samples, calls in flight summed over processes that
wrote in the last `IN_FLIGHT_SECONDS`. Rows older than `KEEP_SECONDS` are not read and are
pruned now and then. A provider with only one candidate never reads the table.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field

from waypoint.persistence.migrations import Migration, register
from waypoint.persistence.sql import Database, Statement
from waypoint.routing import ProviderSignals, Router

FLUSH_SECONDS = 1.0
CACHE_SECONDS = 1.0
IN_FLIGHT_SECONDS = 30.0
KEEP_SECONDS = 24 * 3600.0
PRUNE_EVERY = 100
"""Flushes between two prunes of old rows."""

_HEALTH = """
CREATE TABLE waypoint_provider_health (
    provider TEXT NOT NULL,
    process TEXT NOT NULL,
    latency_ms {real} NOT NULL,
    error_rate {real} NOT NULL,
    samples BIGINT NOT NULL,
    in_flight INTEGER NOT NULL,
    updated_at {real} NOT NULL,
    PRIMARY KEY (provider, process)
);
CREATE INDEX waypoint_provider_health_updated ON waypoint_provider_health (updated_at)
"""

register(
    Migration(
        component="waypoint_provider_health",
        version=1,
        name="provider latency, error rate and calls in flight, per process",
        sqlite=_HEALTH.format(real="REAL"),
        postgres=_HEALTH.format(real="DOUBLE PRECISION"),
    )
)

PROCESS = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
"""This process's name in the table."""


@dataclass
class SharedHealth:
    """The health table of one database, as this process reads and writes it."""

    db: Database
    process: str = PROCESS
    flushed_at: float | None = None
    flushes: int = 0
    written: dict[str, tuple[float, float, int, int]] = field(default_factory=dict)
    _cache: tuple[float, dict[str, ProviderSignals]] | None = None

    async def others(self) -> dict[str, ProviderSignals]:
        """Other processes' signals by provider (cached for `CACHE_SECONDS`)."""
        now = time.monotonic()
        if self._cache is not None and now - self._cache[0] < CACHE_SECONDS:
            return self._cache[1]
        wall = time.time()
        rows = await self.db.fetchall(
            "SELECT provider, sum(samples) AS samples, "
            "sum(latency_ms * samples) AS latency, sum(error_rate * samples) AS errors, "
            "sum(CASE WHEN updated_at >= :recent THEN in_flight ELSE 0 END) AS in_flight "
            "FROM waypoint_provider_health WHERE process <> :me AND updated_at >= :kept "
            "GROUP BY provider",
            {"me": self.process, "recent": wall - IN_FLIGHT_SECONDS, "kept": wall - KEEP_SECONDS},
        )
        view = {
            str(row["provider"]): ProviderSignals(
                latency_ms=float(row["latency"]) / int(row["samples"]),
                error_rate=float(row["errors"]) / int(row["samples"]),
                in_flight=int(row["in_flight"] or 0),
                samples=int(row["samples"]),
            )
            for row in rows
            if int(row["samples"] or 0) > 0
        }
        self._cache = (now, view)
        return view

    def due(self) -> bool:
        """Whether a flush may write now (never written, or `FLUSH_SECONDS` since)."""
        return self.flushed_at is None or time.monotonic() - self.flushed_at >= FLUSH_SECONDS

    async def flush(self, router: Router, *, force: bool = False) -> int:
        """Write this process's signals that changed since the last flush; how many rows."""
        if not force and not self.due():
            return 0
        wall = time.time()
        now = {
            name: (s.latency_ms, s.error_rate, s.samples, s.in_flight)
            for name, s in router.signals.items()
            if s.samples
        }
        changed = {name: v for name, v in now.items() if self.written.get(name) != v}
        if not changed:
            return 0
        self.flushed_at = time.monotonic()
        statements: list[Statement] = [
            (
                "INSERT INTO waypoint_provider_health (provider, process, latency_ms, "
                "error_rate, samples, in_flight, updated_at) VALUES (:p, :me, :lat, :err, :n, "
                ":fly, :now) ON CONFLICT (provider, process) DO UPDATE SET "
                "latency_ms = excluded.latency_ms, error_rate = excluded.error_rate, "
                "samples = excluded.samples, in_flight = excluded.in_flight, "
                "updated_at = excluded.updated_at",
                {
                    "p": name,
                    "me": self.process,
                    "now": wall,
                    "lat": v[0],
                    "err": v[1],
                    "n": v[2],
                    "fly": v[3],
                },
            )
            for name, v in changed.items()
        ]
        self.flushes += 1
        if self.flushes % PRUNE_EVERY == 1:
            statements.append(
                (
                    "DELETE FROM waypoint_provider_health WHERE updated_at < :old",
                    {"old": wall - KEEP_SECONDS},
                )
            )
        await self.db.batch(statements, relaxed=True)
        self.written.update(changed)
        return len(changed)


_ATTRIBUTE = "_waypoint_provider_health"


def health_of(db: Database) -> SharedHealth:
    """The shared health of a database handle (one per handle)."""
    health = getattr(db, _ATTRIBUTE, None)
    if not isinstance(health, SharedHealth):
        health = SharedHealth(db)
        setattr(db, _ATTRIBUTE, health)
    return health

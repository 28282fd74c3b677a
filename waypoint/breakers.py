"""Circuit breakers per provider of a capability (`capability/provider`), kept in the database.

Every process (CLI runs, server workers) sees the same state.

closed → (N consecutive failures) → open → (cool-down passed; one process claims the probe) →
half_open → success: closed / failure: open again. A provider that answered 429 is also marked
rate-limited until its Retry-After. `WAYPOINT_BREAKER_THRESHOLD` (default 3) and
`WAYPOINT_BREAKER_COOLDOWN` (seconds, default 30) tune them. Reads are cached for
`cache_seconds` per process, so a healthy call costs no query most of the time; every change is
written at once.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Literal

from waypoint.persistence.sql import Database

BreakerState = Literal["closed", "open", "half_open"]


@dataclass
class BreakerView:
    """What routing needs to know about one provider."""

    state: BreakerState = "closed"
    failures: int = 0
    opened_at: float | None = None
    rate_limited_until: float | None = None


@dataclass
class Breakers:
    """The shared breakers of one database."""

    db: Database
    failure_threshold: int = field(
        default_factory=lambda: int(os.environ.get("WAYPOINT_BREAKER_THRESHOLD", "3"))
    )
    cool_down_seconds: float = field(
        default_factory=lambda: float(os.environ.get("WAYPOINT_BREAKER_COOLDOWN", "30"))
    )
    cache_seconds: float = 1.0
    _cache: dict[str, tuple[float, BreakerView]] = field(default_factory=dict)

    async def view(self, provider: str) -> BreakerView:
        """The provider's breaker (cached briefly)."""
        cached = self._cache.get(provider)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        row = await self.db.fetchone(
            "SELECT state, failures, opened_at, rate_limited_until FROM waypoint_breakers "
            "WHERE provider = :p",
            {"p": provider},
        )
        view = (
            BreakerView(
                state=row["state"],
                failures=int(row["failures"]),
                opened_at=row["opened_at"],
                rate_limited_until=row["rate_limited_until"],
            )
            if row
            else BreakerView()
        )
        self._cache[provider] = (now, view)
        return view

    async def _write(self, provider: str, view: BreakerView) -> None:
        params = {
            "p": provider,
            "state": view.state,
            "failures": view.failures,
            "opened": view.opened_at,
            "limited": view.rate_limited_until,
            "now": time.time(),
        }
        async with self.db.transaction(lock_key=f"breaker:{provider}") as tx:
            updated = await tx.execute(
                "UPDATE waypoint_breakers SET state = :state, failures = :failures, "
                "opened_at = :opened, rate_limited_until = :limited, updated_at = :now "
                "WHERE provider = :p",
                params,
            )
            if not updated:
                await tx.execute(
                    "INSERT INTO waypoint_breakers (provider, state, failures, opened_at, "
                    "rate_limited_until, updated_at) VALUES (:p, :state, :failures, :opened, "
                    ":limited, :now)",
                    params,
                )
        self._cache[provider] = (time.monotonic(), view)

    async def may_call(self, provider: str) -> bool:
        """Closed: yes. Open: only once the cool-down passed and this process wins the probe."""
        view = await self.view(provider)
        if view.state == "closed":
            return True
        if view.state == "half_open":
            return False  # another caller holds the probe
        if view.opened_at is not None and time.time() - view.opened_at < self.cool_down_seconds:
            return False
        claimed = await self.db.execute(
            "UPDATE waypoint_breakers SET state = 'half_open', updated_at = :now "
            "WHERE provider = :p AND state = 'open'",
            {"p": provider, "now": time.time()},
        )
        self._cache.pop(provider, None)
        return claimed == 1

    async def record_success(self, provider: str) -> None:
        """A call succeeded: close the breaker if it was not already clean."""
        view = await self.view(provider)
        if view.state != "closed" or view.failures:
            await self._write(provider, BreakerView(rate_limited_until=view.rate_limited_until))

    async def record_failure(self, provider: str) -> BreakerState:
        """A call failed: count it; open at the threshold (or at once after a failed probe)."""
        self._cache.pop(provider, None)
        view = await self.view(provider)
        failures = view.failures + 1
        opens = view.state == "half_open" or failures >= self.failure_threshold
        state: BreakerState = "open" if opens else "closed"
        await self._write(
            provider,
            BreakerView(
                state=state,
                failures=failures,
                opened_at=time.time() if opens else view.opened_at,
                rate_limited_until=view.rate_limited_until,
            ),
        )
        return state

    async def record_rate_limit(self, provider: str, retry_after: float) -> None:
        """The provider answered 429: avoid it until Retry-After has passed."""
        self._cache.pop(provider, None)
        view = await self.view(provider)
        view.rate_limited_until = time.time() + max(0.0, retry_after)
        await self._write(provider, view)


_ATTRIBUTE = "_waypoint_breakers"
"""Where a database handle keeps its `Breakers` (so they live and die with the handle)."""


async def shared_breakers() -> Breakers | None:
    """The breakers of the run's database, or None outside a run with a database.

    Under the command line the runner's database is used; under a server, the database named
    by `WAYPOINT_DB_URL` (breakers stay off when it is not set).
    """
    from waypoint.persistence.stores import current_database, database_for_run

    db = current_database()
    if db is None and os.environ.get("WAYPOINT_DB_URL"):
        db = await database_for_run()
    if db is None:
        return None
    breakers = getattr(db, _ATTRIBUTE, None)
    if not isinstance(breakers, Breakers):
        breakers = Breakers(db)
        setattr(db, _ATTRIBUTE, breakers)
    return breakers

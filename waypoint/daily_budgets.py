"""Spending limits across runs: per workflow and per user, per UTC day, kept in the database.

```toml
[daily_budgets.support]         # waypoint.toml
cost_usd = "20.00"              # the workflow's model spend per day, every run and user together
tokens = 2000000                # its model tokens per day
user_cost_usd = "2.00"          # each user's (the run's actor) spend in this workflow per day
user_tokens = 200000
```

Before a model call, its worst case (`waypoint.pricing.worst_case`) is reserved against every
limit that applies, in one transaction: a conditional update per limit that succeeds only if
what was spent, what others have reserved and this worst case fit; if any does not, nothing is
reserved and the call is refused (a `budget` halt). After the call the reservation is settled
with what it cost. So processes sharing the database share the limits, and their total spend
never passes them. A call that failed releases its reservation; a call cut short by a kill is
charged its worst case (the provider may have charged); a process that dies mid-call leaves
its reservation held for the rest of that UTC day (the limit errs on the safe side).

`DailyBudget` (in `waypoint.config`) is the table's model.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal

from waypoint.config import DailyBudget
from waypoint.persistence.migrations import Migration, register
from waypoint.persistence.sql import Database, Executor
from waypoint.pricing import MICRO, WorstCase

_SPEND = """
CREATE TABLE waypoint_daily_spend (
    scope TEXT NOT NULL,
    day TEXT NOT NULL,
    spent_micros BIGINT NOT NULL DEFAULT 0,
    reserved_micros BIGINT NOT NULL DEFAULT 0,
    spent_tokens BIGINT NOT NULL DEFAULT 0,
    reserved_tokens BIGINT NOT NULL DEFAULT 0,
    calls INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, day)
)
"""

register(
    Migration(
        component="waypoint_daily_spend",
        version=1,
        name="model spend per workflow and per user per day (`waypoint.daily_budgets`)",
        sqlite=_SPEND,
        postgres=_SPEND,
    )
)


def micros(usd: Decimal, *, up: bool = False) -> int:
    """USD as whole millionths (how spend is stored: exact on both backends); `up` rounds up."""
    return int((usd / MICRO).to_integral_value(ROUND_CEILING if up else ROUND_HALF_EVEN))


@dataclass(frozen=True)
class _Limit:
    scope: str
    what: str
    micros: int | None
    tokens: int | None


@dataclass(frozen=True)
class Reservation:
    """A call's worst case, held against each limit until it is settled."""

    db: Database
    day: str
    scopes: tuple[str, ...]
    micros: int
    tokens: int

    async def settle_worst(self) -> None:
        """The call was cut short (a kill): charge what was held, the call's worst case."""
        await self._settle(self.micros, self.tokens, 1)

    async def settle(self, cost_usd: Decimal | None, tokens: int) -> None:
        """The call ended: what it cost replaces what was held (`None`: it failed, release)."""
        if cost_usd is None:
            await self._settle(0, 0, 0)
        else:
            await self._settle(micros(cost_usd), tokens, 1)

    async def _settle(self, spent: int, used: int, calls: int) -> None:
        change = {"held": self.micros, "held_tokens": self.tokens, "spent": spent, "used": used}
        statements = [
            (
                "UPDATE waypoint_daily_spend SET reserved_micros = reserved_micros - :held, "
                "reserved_tokens = reserved_tokens - :held_tokens, "
                "spent_micros = spent_micros + :spent, spent_tokens = spent_tokens + :used, "
                "calls = calls + :calls WHERE scope = :scope AND day = :day",
                {**change, "calls": calls, "scope": scope, "day": self.day},
            )
            for scope in self.scopes
        ]
        # shielded: a kill must not leave a settled call half recorded
        await asyncio.shield(self.db.batch(statements))


def _limits(workflow: str, user: str, budget: DailyBudget) -> list[_Limit]:
    limits = [
        _Limit(
            f"workflow:{workflow}",
            f"daily budget of {workflow}",
            None if budget.cost_usd is None else micros(budget.cost_usd),
            budget.tokens,
        ),
        _Limit(
            f"user:{workflow}:{user}",
            f"daily budget of user {user} in {workflow}",
            None if budget.user_cost_usd is None else micros(budget.user_cost_usd),
            budget.user_tokens,
        ),
    ]
    return [limit for limit in limits if limit.micros is not None or limit.tokens is not None]


class OverBudget(Exception):
    """A call's worst case does not fit a daily limit; `reason` says which and by how much."""

    def __init__(self, reason: str) -> None:
        """Carry the reason for the halt."""
        super().__init__(reason)
        self.reason = reason


async def _reserve_one(tx: Executor, limit: _Limit, day: str, held: int, tokens: int) -> None:
    params = {
        "scope": limit.scope,
        "day": day,
        "held": held,
        "tokens": tokens,
        "max_micros": limit.micros,
        "max_tokens": limit.tokens,
    }
    await tx.execute(
        "INSERT INTO waypoint_daily_spend (scope, day) VALUES (:scope, :day) "
        "ON CONFLICT (scope, day) DO NOTHING",
        params,
    )
    conditions = []
    if limit.micros is not None:
        conditions.append("spent_micros + reserved_micros + :held <= :max_micros")
    if limit.tokens is not None:
        conditions.append("spent_tokens + reserved_tokens + :tokens <= :max_tokens")
    reserved = await tx.execute(
        "UPDATE waypoint_daily_spend SET reserved_micros = reserved_micros + :held, "
        "reserved_tokens = reserved_tokens + :tokens WHERE scope = :scope AND day = :day AND "
        + " AND ".join(conditions),
        params,
    )
    if reserved == 1:
        return
    row = await tx.fetchone(
        "SELECT spent_micros, reserved_micros, spent_tokens, reserved_tokens "
        "FROM waypoint_daily_spend WHERE scope = :scope AND day = :day",
        params,
    )
    assert row is not None
    spent = Decimal(int(row["spent_micros"])) * MICRO
    held_now = Decimal(int(row["reserved_micros"])) * MICRO
    raise OverBudget(
        f"{limit.what} ({_shown(limit)} per UTC day, {day}): {spent} USD and "
        f"{row['spent_tokens']} tokens spent, {held_now} USD held by calls in flight, and this "
        f"call may cost up to {Decimal(held) * MICRO} USD / {tokens} tokens"
    )


def _shown(limit: _Limit) -> str:
    parts = []
    if limit.micros is not None:
        parts.append(f"{Decimal(limit.micros) * MICRO} USD")
    if limit.tokens is not None:
        parts.append(f"{limit.tokens} tokens")
    return ", ".join(parts)


async def reserve(
    db: Database, workflow: str, user: str, budget: DailyBudget, worst: WorstCase
) -> Reservation | None:
    """Hold `worst` against the workflow's and the user's daily limits (None: no limit applies).

    Raises:
        OverBudget: a limit would be passed (nothing is held), or the model has no price and a
            cost limit applies (it could not be kept).
    """
    limits = _limits(workflow, user, budget)
    if not limits:
        return None
    if worst.cost_usd is None and any(limit.micros is not None for limit in limits):
        raise OverBudget(
            f"daily budget of {workflow}: no price is known for {worst.model}, so the budget "
            "could not be kept; name its price in the capability registry"
        )
    held = micros(worst.cost_usd or Decimal("0"), up=True)  # never less than the worst case
    day = datetime.now(UTC).date().isoformat()
    async with db.transaction(lock_key=f"daily-spend:{workflow}:{day}") as tx:
        for limit in limits:
            await _reserve_one(tx, limit, day, held, worst.tokens)
    return Reservation(db, day, tuple(limit.scope for limit in limits), held, worst.tokens)

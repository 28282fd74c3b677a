"""Measure contention on a checkpoint saver's per-instance lock.

`AsyncPostgresSaver` and `AsyncSqliteSaver` serialise every query of one saver instance behind
one `asyncio.Lock` (`saver.lock`). `meter(saver)` swaps in a lock that behaves the same and adds
up how long callers waited to get it, so a benchmark can show how much of a run under
concurrency is spent queuing for the saver. The cost is two clock reads per acquisition.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal


class MeteredLock(asyncio.Lock):
    """An `asyncio.Lock` that adds up the time spent waiting in `acquire`."""

    def __init__(self) -> None:
        super().__init__()
        self.waited = 0.0
        """Seconds spent waiting to acquire, summed over every caller."""
        self.acquisitions = 0
        """How many times it was acquired."""

    async def acquire(self) -> Literal[True]:
        """Acquire the lock, counting the wait."""
        start = time.perf_counter()
        acquired = await super().acquire()
        self.waited += time.perf_counter() - start
        self.acquisitions += 1
        return acquired

    def reset(self) -> None:
        """Zero the counters."""
        self.waited = 0.0
        self.acquisitions = 0


def meter(saver: Any) -> MeteredLock | None:
    """Replace `saver.lock` with a `MeteredLock` (None when the saver has no such lock)."""
    current = getattr(saver, "lock", None)
    if not isinstance(current, asyncio.Lock) or current.locked():
        return None
    if isinstance(current, MeteredLock):
        return current
    metered = MeteredLock()
    saver.lock = metered
    return metered

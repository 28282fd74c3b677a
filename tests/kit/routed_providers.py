"""A plugin (`WAYPOINT_PLUGINS=tests.kit.routed_providers`) adding two providers to the spender
graph's `kit_spend` capability: `kit-spend-slow` answers in 80 ms against a 50 ms latency SLO,
`kit-spend-fast` in 5 ms. Offline and deterministic (they sleep, then answer ok).
"""

from __future__ import annotations

import asyncio

from tests.kit.graphs.spender import SpendAnswer, SpendRequest
from waypoint import OfflineProvider, registry

SLOW, FAST = "kit-spend-slow", "kit-spend-fast"


async def _slow(request: SpendRequest) -> SpendAnswer:
    await asyncio.sleep(0.08)
    return SpendAnswer(ok=True)


async def _fast(request: SpendRequest) -> SpendAnswer:
    await asyncio.sleep(0.005)
    return SpendAnswer(ok=True)


registry.add_provider(
    "kit_spend", OfflineProvider(SLOW, "1", "Offline: ok after 80 ms.", _slow, slo_latency_ms=50)
)
registry.add_provider(
    "kit_spend", OfflineProvider(FAST, "1", "Offline: ok after 5 ms.", _fast, slo_latency_ms=50)
)

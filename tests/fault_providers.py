"""Test providers that fail on purpose, for the failure-ladder tests (a plugin module).

Enabled with `WAYPOINT_PLUGINS=tests.fault_providers`; routed with
`WAYPOINT_ROUTE_CLASSIFY_TICKET=<names>`. Each answers like the offline classifier when it does
not fail, and counts its calls in `CALLS` (per process).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from nodes.support.capabilities import CLASSIFY, ClassifyRequest, classify_offline
from state.support import Classification
from waypoint.capabilities import OfflineProvider, registry
from waypoint.provider_errors import ProviderUnavailable, RateLimited

CALLS: Counter[str] = Counter()
CALL_TIMES: dict[str, list[float]] = {}
RETRY_AFTER = 0.4


def _count(name: str) -> int:
    CALLS[name] += 1
    CALL_TIMES.setdefault(name, []).append(time.monotonic())
    return CALLS[name]


async def slow(request: ClassifyRequest) -> Classification:
    """Never answers within its 0.2 s timeout."""
    _count("slow-classifier")
    await asyncio.sleep(5)
    return classify_offline(request)


def rate_limited_once(request: ClassifyRequest) -> Classification:
    """429 with Retry-After on its first call, then answers."""
    if _count("rate-limited-classifier") == 1:
        raise RateLimited("rate-limited-classifier", RETRY_AFTER)
    return classify_offline(request)


def always_503(request: ClassifyRequest) -> Classification:
    """A 5xx every time."""
    _count("failing-classifier")
    raise ProviderUnavailable("failing-classifier", "HTTP 503 Service Unavailable")


def malformed(request: ClassifyRequest) -> Classification:
    """Answers outside the contract (confidence 7), as a model would, unvalidated."""
    _count("malformed-classifier")
    return Classification.model_construct(category="refund", confidence=7, rationale="sure")


for provider in (
    OfflineProvider(
        name="slow-classifier",
        version="test",
        description="Test provider: sleeps past its timeout.",
        fn=slow,
        owner="tests",
        timeout_seconds=0.2,
    ),
    OfflineProvider(
        name="rate-limited-classifier",
        version="test",
        description="Test provider: 429 once, then answers.",
        fn=rate_limited_once,
        owner="tests",
    ),
    OfflineProvider(
        name="failing-classifier",
        version="test",
        description="Test provider: always HTTP 503.",
        fn=always_503,
        owner="tests",
    ),
    OfflineProvider(
        name="malformed-classifier",
        version="test",
        description="Test provider: breaks the output contract.",
        fn=malformed,
        owner="tests",
    ),
):
    registry.add_provider(CLASSIFY.name, provider)

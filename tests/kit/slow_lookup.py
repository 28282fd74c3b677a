"""A plugin (`WAYPOINT_PLUGINS=tests.kit.slow_lookup`) adding `kit-slow-crm` to the support
workflow's `crm_lookup`: the demo CRM's answer, after 10 s while the file named by
`KIT_SLOW_LOOKUP_MARKER` exists (at once otherwise). Offline and deterministic; for kills that
land while `lookup` is inside its call, through a server.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from nodes.support.capabilities import LookupRequest, lookup_crm
from state.support import LookupResult
from waypoint import OfflineProvider, registry

MARKER = "KIT_SLOW_LOOKUP_MARKER"
NAME = "kit-slow-crm"


async def _lookup(request: LookupRequest) -> LookupResult:
    marker = os.environ.get(MARKER)
    if marker and Path(marker).exists():
        await asyncio.sleep(10)
    return await lookup_crm(request)


registry.add_provider(
    "crm_lookup",
    OfflineProvider(NAME, "1", "Offline: the demo CRM, 10 s late while a marker exists.", _lookup),
)

"""Test providers of `search_docs` for the research tests (a plugin module).

Enabled with `WAYPOINT_PLUGINS=tests.research.faults`; routed with
`WAYPOINT_ROUTE_SEARCH_DOCS=<names>`. Each logs every call as a line `provider<TAB>query` to the
file named by `RESEARCH_CALL_LOG` (if set), so a test counts calls across processes, a killed
one included, and answers like the BM25 provider when it does not fail.

- `flaky-search`: HTTP 503 for any query mentioning `pickle`.
- `gated-search`: a query mentioning the word in `RESEARCH_GATE_WORD` (default: every query)
  waits until the file `RESEARCH_GATE` exists.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from nodes.research.capabilities import SearchRequest, SearchResult, search_fts
from waypoint.capabilities import OfflineProvider, registry
from waypoint.provider_errors import ProviderUnavailable


def log_call(provider: str, query: str) -> None:
    """Append one call to the call log."""
    path = os.environ.get("RESEARCH_CALL_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{provider}\t{query}\n")
            handle.flush()
            os.fsync(handle.fileno())


def calls(path: Path) -> list[tuple[str, str]]:
    """The logged calls, in order."""
    if not path.exists():
        return []
    return [
        (line.split("\t", 1)[0], line.split("\t", 1)[1])
        for line in path.read_text().splitlines()
        if "\t" in line
    ]


def flaky(request: SearchRequest) -> SearchResult:
    """503 for `pickle`, else BM25."""
    log_call("flaky-search", request.query)
    if "pickle" in request.query:
        raise ProviderUnavailable("flaky-search", "HTTP 503 Service Unavailable")
    return search_fts(request)


async def gated(request: SearchRequest) -> SearchResult:
    """Waits for the gate file when the query mentions the gate word, then BM25."""
    log_call("gated-search", request.query)
    word = os.environ.get("RESEARCH_GATE_WORD", "")
    gate = os.environ.get("RESEARCH_GATE")
    if gate and word in request.query:
        while not Path(gate).exists():
            await asyncio.sleep(0.05)
    return search_fts(request)


registry.add_provider(
    "search_docs",
    OfflineProvider(
        name="flaky-search",
        version="test",
        description="Test provider: HTTP 503 for queries about pickle.",
        fn=flaky,
        owner="tests",
    ),
)
registry.add_provider(
    "search_docs",
    OfflineProvider(
        name="gated-search",
        version="test",
        description="Test provider: waits for a file before answering.",
        fn=gated,
        owner="tests",
        timeout_seconds=120,
    ),
)

"""Kit tests run on small graphs of their own, listed in `tests/kit/langgraph.json`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

KIT = Path(__file__).resolve().parent
KIT_GRAPHS = KIT / "langgraph.json"


@pytest.fixture(autouse=True)
def kit_graphs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the workflow loader and config (and CLI subprocesses) at the kit test graphs."""
    monkeypatch.setenv("WAYPOINT_LANGGRAPH_JSON", str(KIT_GRAPHS))
    monkeypatch.setenv("WAYPOINT_CONFIG", str(KIT / "waypoint.toml"))
    yield KIT_GRAPHS

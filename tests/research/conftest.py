"""Research tests: each test acts as its own user (memory is per user) on a shared corpus."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.research.faults  # noqa: F401  (registers the test providers in this process)


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One corpus index for the session (built at first use)."""
    return tmp_path_factory.mktemp("research-corpus")


@pytest.fixture(autouse=True)
def research_env(monkeypatch: pytest.MonkeyPatch, corpus_dir: Path) -> Iterator[str]:
    """A user of its own (so no other test's memory is reused), the shared corpus, the plugin."""
    user = f"tester-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("WAYPOINT_ACTOR", user)
    monkeypatch.setenv("WAYPOINT_RESEARCH_CORPUS_DIR", str(corpus_dir))
    monkeypatch.setenv("WAYPOINT_PLUGINS", "tests.research.faults")
    yield user

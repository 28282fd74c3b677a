"""Trace files with an encryption key set: sealed line by line, read back with the key.

A real run is recorded through the real command line with a key; the file on disk holds none of
the ticket's words, `read_trace` gives back what was recorded with the key and names the problem
without it. The shipped (plain) suite still scores with a key set.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from tests.conftest import waypoint_cli
from tests.helpers import PROJECT_ROOT, demo_input
from waypoint.encryption import KEY_ENV, EncryptionKeyError
from waypoint.evals.report import Baseline, build_report
from waypoint.evals.session import run_suite
from waypoint.evals.suite import load_suite
from waypoint.evals.trace_format import SEALED, read_trace

SUITE_DIR = PROJECT_ROOT / "evals" / "support"
TICKET = demo_input("auto refund")  # "My mug arrived broken..."


def test_a_recorded_trace_is_sealed_and_reads_back_with_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, other = os.urandom(32).hex(), os.urandom(32).hex()
    trace = tmp_path / "run.jsonl"
    done = waypoint_cli(
        "run", "support", "--input", json.dumps(TICKET), "--record", str(trace),
        "--db", f"sqlite:///{tmp_path / 'waypoint.sqlite'}", env={KEY_ENV: key},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr

    text = trace.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) > 5 and all(set(line) == {SEALED, "data"} for line in lines)
    assert "mug arrived broken" not in text and "Ada Lovelace" not in text and "support" not in text

    monkeypatch.setenv(KEY_ENV, f"{other},{key}")  # rotated: the old key still reads it
    recorded = read_trace(trace)
    assert recorded.header.graph == "support" and recorded.header.status == "completed"
    assert recorded.header.input is not None
    assert recorded.header.input["message"] == TICKET["message"]
    assert {run["name"] for run in recorded.runs} >= {"support", "intake", "execute"}

    monkeypatch.setenv(KEY_ENV, other)
    with pytest.raises(EncryptionKeyError, match=f"trace {trace}: .* is not configured"):
        read_trace(trace)
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(EncryptionKeyError, match="no key is configured"):
        read_trace(trace)


def test_the_shipped_plain_traces_score_with_a_key_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, os.urandom(16).hex())
    suite = load_suite(SUITE_DIR)
    report = build_report(
        asyncio.run(run_suite(suite, mode="score")), Baseline.read(SUITE_DIR / "baseline.json")
    )
    assert len(report.results) >= 30
    assert report.problems == [] and report.exit_code == 0

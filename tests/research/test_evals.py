"""The shipped `research` eval suite passes in score and replay modes, and replay catches a
regression of the agent loop or the writer."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from langchain_core.messages import AIMessage

import nodes.research.brief as brief
import nodes.research.chat_model as chat_model
from tests.conftest import PROJECT_ROOT
from waypoint.evals.report import Report, build_report
from waypoint.evals.session import run_suite
from waypoint.evals.suite import load_suite

SUITE = PROJECT_ROOT / "evals" / "research"


def _report(mode: str, **kwargs: Any) -> Report:
    return build_report(asyncio.run(run_suite(load_suite(SUITE), mode=mode, **kwargs)))  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["score", "replay"])
def test_the_shipped_suite_passes(mode: str) -> None:
    report = _report(mode)
    assert len(report.results) >= 20
    failed = [r.case_id for r in report.results if not r.passed]
    assert failed == [] and report.exit_code == 0


def test_replay_catches_a_writer_that_drops_citations(monkeypatch: pytest.MonkeyPatch) -> None:
    original = brief.compose_brief

    def careless(facts: dict[str, Any]) -> str:
        return re.sub(r" \[[\w.]+\]$", "", original(facts), flags=re.MULTILINE)

    monkeypatch.setattr(brief, "compose_brief", careless)
    report = _report("replay", case_ids=["clean-two-names"])
    (result,) = report.results
    assert not result.passed and report.exit_code != 0


def test_replay_catches_an_agent_that_stops_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    original = chat_model.researcher_answer

    def lazy(messages: Any) -> Any:
        answer = original(messages)
        if answer.tool_calls and answer.tool_calls[0]["name"] == "read_passage":
            return AIMessage(content="UNANSWERED: did not read")
        return answer

    monkeypatch.setattr(chat_model, "researcher_answer", lazy)
    report = _report("replay", case_ids=["clean-one-name"])
    (result,) = report.results
    assert not result.passed

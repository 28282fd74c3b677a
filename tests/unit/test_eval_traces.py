"""Trace files: the recorder's shape, LangSmith's `Run` loading them, exports read as is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langsmith.schemas import Run

from tests.helpers import PROJECT_ROOT
from waypoint.errors import BadInput
from waypoint.evals.suite import load_suite
from waypoint.evals.trace_format import TRACE_SCHEMA, parse_trace, read_trace
from waypoint.evals.trace_view import build_view

SUITE_DIR = PROJECT_ROOT / "evals" / "support"
APPROVAL = SUITE_DIR / "traces" / "approval-approve.jsonl"
RUN_FIELDS = {
    "id",
    "name",
    "run_type",
    "inputs",
    "outputs",
    "error",
    "start_time",
    "end_time",
    "parent_run_id",
    "trace_id",
    "dotted_order",
    "extra",
}


def test_every_shipped_trace_loads_with_langsmith_run() -> None:
    suite = load_suite(SUITE_DIR)
    for case in suite.cases:
        trace = read_trace(suite.trace_path(case))
        assert trace.header.trace_schema == TRACE_SCHEMA
        assert trace.header.graph == "support"
        runs = trace.load_runs()
        assert runs and all(isinstance(run, Run) for run in runs)
        for raw in trace.runs:
            assert set(raw) >= RUN_FIELDS, case.id


def test_header_and_run_metadata() -> None:
    trace = read_trace(APPROVAL)
    header = trace.header
    assert header.thread_id == "eval-approval-approve"
    assert header.git_revision
    assert header.providers == {
        "classify_ticket": "offline-keyword-classifier",
        "crm_lookup": "demo-crm",
        "draft_reply": "offline-template-writer",
    }
    assert header.answers == [{"type": "approve"}]
    roots = [run for run in trace.runs if run["parent_run_id"] is None]
    assert len(roots) == 2  # the first invocation, then the resume
    nodes = [r for r in trace.runs if r["extra"]["metadata"].get("langgraph_node") == r["name"]]
    for node in nodes:
        metadata = node["extra"]["metadata"]
        assert isinstance(metadata["langgraph_step"], int)
        assert metadata["parent_checkpoint_id"]
        if node["status"] != "interrupted":
            assert metadata["checkpoint_id"]
    paused = [r for r in nodes if r["status"] == "interrupted"]
    assert [r["name"] for r in paused] == ["approval"]
    assert paused[0]["error"] is None
    assert paused[0]["outputs"]["__interrupt__"][0]["value"]["action_requests"][0]["name"] == (
        "issue_refund"
    )
    calls = [r for r in trace.runs if "waypoint_capability" in r["extra"]["metadata"]]
    assert [(c["name"], c["run_type"]) for c in calls] == [
        ("classify_ticket", "llm"),
        ("crm_lookup", "tool"),
        ("draft_reply", "llm"),
    ]
    assert all(len(c["extra"]["metadata"]["waypoint_call_key"]) == 32 for c in calls)
    assert calls[0]["inputs"]["messages"][0]["role"] == "system"
    dotted = [r["dotted_order"] for r in trace.runs]
    assert dotted == sorted(dotted)


def test_thread_steps_match_agentevals_extraction() -> None:
    """The trajectory read from runs equals agentevals' one read from the checkpoints."""
    suite = load_suite(SUITE_DIR)
    compared = 0
    for case in suite.cases:
        trace = read_trace(suite.trace_path(case))
        view = build_view(trace)
        if any(i["node"].startswith("__") for i in view.interrupts):
            continue  # agentevals does not see a failure ladder's interrupt (see trace_view)
        halt = view.final_output.get("halt") or {}
        if halt and halt["node"] not in view.path:
            continue  # halted before the node started: no run, but a task in the checkpoint
        assert view.thread_steps == trace.header.thread_steps, case.id
        compared += 1
    assert compared >= 30


def test_a_langsmith_export_is_read_as_is(tmp_path: Path) -> None:
    """A JSON list of runs with no header (as LangSmith exports them) scores like a recording."""
    trace = read_trace(APPROVAL)
    exported = []
    for run in trace.runs:
        item = dict(run)
        if item.get("status") == "interrupted":  # how LangSmith stores a paused node
            item["error"] = "GraphInterrupt((Interrupt(value={...}),))"
            item["outputs"] = None
        exported.append(item)
    path = tmp_path / "export.json"
    path.write_text(json.dumps(exported))
    loaded = read_trace(path)
    assert loaded.header.source == "langsmith"
    assert loaded.header.graph == "support"
    assert loaded.header.thread_id == "eval-approval-approve"
    view, original = build_view(loaded), build_view(trace)
    assert view.path == original.path
    assert [i["node"] for i in view.interrupts] == ["approval"]
    assert view.status == "completed"
    assert view.errors == []


def test_jsonl_without_header_is_read(tmp_path: Path) -> None:
    lines = read_trace(APPROVAL).runs
    path = tmp_path / "runs.jsonl"
    path.write_text("\n".join(json.dumps(run) for run in lines))
    assert read_trace(path).header.source == "langsmith"


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"runs": []}'])
def test_not_a_trace_is_bad_input(text: str) -> None:
    with pytest.raises(BadInput):
        parse_trace(text)

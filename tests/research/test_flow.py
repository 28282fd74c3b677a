"""The `research` workflow end to end on both backends: every path of the graph.

Real LangGraph, real SQLite and Postgres, the offline providers (the only fakes). Provider
calls are counted from the ledger's capability rows and the test providers' call log.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from nodes.research.brief import citations, sections
from tests.helpers import query, run
from tests.research.faults import calls
from waypoint.errors import BadInput
from waypoint.runner import ThreadReport, resume_thread, start_run, thread_status

QUESTION = {"question": "How do json.dumps and pickle.dumps differ?", "max_sub_questions": 3}


def start(db_url: str, raw: dict[str, Any], **context: Any) -> ThreadReport:
    thread = f"research-{uuid.uuid4().hex[:10]}"
    return run(start_run("research", raw, thread_id=thread, db_url=db_url, context=context))


def findings(report: ThreadReport) -> dict[str, dict[str, Any]]:
    return {f["sub_question_id"]: f for f in report.values["findings"]}


def capability_calls(db_url: str, thread: str, capability: str) -> list[dict[str, Any]]:
    """The ledger rows of node invocations that called `capability` (one per invocation)."""
    return query(
        db_url,
        "SELECT node, checkpoint_ns, provider FROM waypoint_ledger "
        "WHERE thread_id = ? AND capability = ?",
        (thread, capability),
    )


def test_a_run_completes_with_a_cited_brief(db_url: str) -> None:
    done = start(db_url, QUESTION, use_memory=False)
    assert done.status == "completed" and done.exit_code == 0
    values = done.values
    assert [s["id"] for s in values["sub_questions"]] == ["q1", "q2", "q3"]
    assert {f["status"] for f in values["findings"]} == {"answered"}
    brief = values["brief"]["text"]
    assert set(sections(brief)) == {"q1", "q2", "q3"}
    assert citations(brief) and set(citations(brief)) <= set(values["retrieved"])
    assert [v["passed"] for v in values["gate_verdicts"]] == [True]
    assert values["outcome"] == "accepted"
    # each task ran its agent loop inside its own subgraph namespace
    rows = query(
        db_url,
        "SELECT node, checkpoint_ns, status FROM waypoint_ledger WHERE thread_id = ?",
        (done.thread_id,),
    )
    inner = [r for r in rows if r["node"] in ("agent", "tools", "write_findings")]
    assert len({r["checkpoint_ns"] for r in inner}) == 3
    assert all(r["checkpoint_ns"].startswith("research:") for r in inner)
    assert {r["status"] for r in rows} == {"committed"}
    agent_turns = [r for r in inner if r["node"] == "agent"]
    assert len(agent_turns) == 9  # per task: search, read, answer


def test_a_long_brief_is_rewritten_until_it_passes(db_url: str) -> None:
    done = start(db_url, QUESTION, use_memory=False, max_words=110)
    assert done.status == "completed"
    verdicts = done.values["gate_verdicts"]
    assert [v["passed"] for v in verdicts] == [False, True]
    assert verdicts[0]["reasons"][0].startswith("too long")
    assert done.values["revisions"] == 1
    assert done.values["brief"]["attempt"] == 2


def test_revisions_exhausted_go_to_a_human(db_url: str) -> None:
    waiting = start(db_url, QUESTION, use_memory=False, max_words=12, max_revisions=1)
    assert waiting.status == "waiting" and waiting.exit_code == 3
    assert [p.node for p in waiting.interrupts] == ["review"]
    request = waiting.interrupts[0].value
    assert request["review_configs"][0]["allowed_decisions"] == [
        "approve",
        "edit",
        "respond",
        "reject",
    ]
    assert "still fails after 1 rewrite" in request["action_requests"][0]["description"]
    assert [v["passed"] for v in waiting.values["gate_verdicts"]] == [False, False]
    done = run(
        resume_thread(waiting.thread_id, {"decisions": [{"type": "approve"}]}, db_url=db_url)
    )
    assert done.status == "completed" and done.values["outcome"] == "accepted"


@pytest.mark.parametrize("decision", ["approve", "edit", "reject", "respond"])
def test_each_human_answer(db_url: str, decision: str) -> None:
    waiting = start(db_url, {**QUESTION, "review": True}, use_memory=False)
    assert waiting.status == "waiting" and [p.node for p in waiting.interrupts] == ["review"]
    answer: dict[str, Any] = {"type": decision}
    if decision == "edit":
        answer["edited_action"] = {"name": "review_brief", "args": {"brief": "# Short\nDone."}}
    if decision in ("reject", "respond"):
        answer["message"] = "Add how they handle bytes."
    after = run(resume_thread(waiting.thread_id, {"decisions": [answer]}, db_url=db_url))
    values = after.values
    assert values["human"]["decision"] == decision
    if decision == "approve":
        assert after.status == "completed" and values["outcome"] == "accepted"
    elif decision == "edit":
        assert after.status == "completed" and values["outcome"] == "edited"
        assert values["brief"] == {"text": "# Short\nDone.", "attempt": 2, "edited_by_human": True}
    elif decision == "reject":
        assert after.status == "completed" and values["outcome"] == "rejected"
    else:  # changes requested: rewritten with the reviewer's words, and back to the human
        assert after.status == "waiting" and values.get("outcome") is None
        assert "Revised after review: Add how they handle bytes." in values["brief"]["text"]
        assert values["brief"]["attempt"] == 2


def test_a_bad_answer_is_refused_and_nothing_is_written(db_url: str) -> None:
    waiting = start(db_url, {**QUESTION, "review": True}, use_memory=False)
    bad = {"decisions": [{"type": "edit", "edited_action": {"name": "review_brief", "args": {}}}]}
    with pytest.raises(BadInput, match=r"edited_action\.args\.brief: required"):
        run(resume_thread(waiting.thread_id, bad, db_url=db_url))
    still = run(thread_status(waiting.thread_id, db_url=db_url))
    assert still.status == "waiting" and still.checkpoint_id == waiting.checkpoint_id


def test_a_failing_task_is_retried_then_marked_unanswered(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = tmp_path / "calls.log"
    monkeypatch.setenv("RESEARCH_CALL_LOG", str(log))
    monkeypatch.setenv("WAYPOINT_ROUTE_SEARCH_DOCS", "flaky-search")
    done = start(db_url, QUESTION, use_memory=False)
    assert done.status == "completed"
    found = findings(done)
    assert found["q1"]["status"] == "answered"  # the other tasks' findings are kept
    for failed in ("q2", "q3"):  # both mention pickle
        assert found[failed]["status"] == "unanswered"
        # 503s, until the shared circuit breaker opens and the provider is not even asked
        assert found[failed]["reason"].startswith("tools failed: ")
        assert (
            "ProviderUnavailable" in found[failed]["reason"] or "breaker" in found[failed]["reason"]
        )
    tools = query(
        db_url,
        "SELECT checkpoint_ns, attempt, status FROM waypoint_ledger "
        "WHERE thread_id = ? AND node = 'tools'",
        (done.thread_id,),
    )
    attempts: dict[str, list[int]] = {}
    for row in tools:
        attempts.setdefault(row["checkpoint_ns"], []).append(row["attempt"])
    # q1: search then read; q2, q3: the search tried twice (the tools node's retry policy)
    assert sorted(sorted(a) for a in attempts.values()) == [[1, 1], [1, 2], [1, 2]]
    assert 1 <= len([q for p, q in calls(log) if "pickle" in q]) <= 4
    assert "Unanswered: tools failed" in done.values["brief"]["text"]
    assert done.values["gate_verdicts"][-1]["passed"]


def test_a_failing_provider_falls_back_to_the_next(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAYPOINT_ROUTE_SEARCH_DOCS", "flaky-search,stdlib-scan")
    done = start(db_url, QUESTION, use_memory=False)
    assert done.status == "completed"
    assert {f["status"] for f in done.values["findings"]} == {"answered"}
    served = capability_calls(db_url, done.thread_id, "search_docs")
    assert len(served) == 3
    by_task = {row["checkpoint_ns"]: row["provider"] for row in served}
    assert sorted(by_task.values()).count("stdlib-scan") >= 2  # the pickle queries fell back


def test_the_tool_call_budget_stops_the_agent_loop(db_url: str) -> None:
    done = start(db_url, {**QUESTION, "depth": 2}, use_memory=False, tool_call_budget=2)
    assert done.status == "completed"
    for finding in done.values["findings"]:
        assert finding["status"] == "unanswered"
        assert finding["reason"] == "tool-call budget of 2 exhausted"
        assert finding["tool_calls"] == 1  # the search; the two reads would pass the budget
    assert capability_calls(db_url, done.thread_id, "read_passage") == []


def test_findings_are_reused_from_memory_by_a_later_thread(db_url: str) -> None:
    first = start(db_url, {"question": "What does json.dumps do?", "max_sub_questions": 2})
    assert first.status == "completed"
    later = start(db_url, QUESTION)
    assert later.status == "completed"
    found = findings(later)
    assert found["q1"]["reused_from"] == first.thread_id
    assert found["q1"]["claims"] == findings(first)["q1"]["claims"]
    assert found["q2"]["reused_from"] is None
    assert "Reused from memory: q1 (thread " + first.thread_id in later.values["brief"]["text"]
    searched = [
        c["checkpoint_ns"] for c in capability_calls(db_url, later.thread_id, "search_docs")
    ]
    assert len(searched) == 2  # q2 and q3 only: q1 was not researched again
    assert later.values["gate_verdicts"][-1]["passed"]


def test_memory_is_per_user_and_expires(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = {"question": "What does heapq.heappush do?", "max_sub_questions": 2}
    start(db_url, raw, memory_ttl_minutes=0.002)  # kept for about 0.1 s
    time.sleep(0.3)
    expired = start(db_url, raw)
    assert all(f["reused_from"] is None for f in expired.values["findings"])
    monkeypatch.setenv("WAYPOINT_ACTOR", f"other-{uuid.uuid4().hex[:6]}")
    other = start(db_url, raw)
    assert all(f["reused_from"] is None for f in other.values["findings"])


def test_a_finding_holding_a_nul_character_is_kept_by_a_servers_postgres_store(
    pg_url: str,
) -> None:
    """A server's Store (Aegra's) is LangGraph's own, JSONB on Postgres: `remember` itself
    replaces NUL, so a passage quoting binary data does not fail the task's last node."""
    from langgraph.store.postgres.aio import AsyncPostgresStore

    from nodes.research.memory import recall, remember
    from state.research import Claim, Finding

    finding = Finding(
        sub_question_id="q1",
        question="What does pickle write for b'\x00'?",
        status="answered",
        claims=[Claim(text="It writes the byte \x00 as is.", citations=["p1"])],
    )
    user = f"nul-{uuid.uuid4().hex[:8]}"

    async def keep_and_read() -> dict[str, Any] | None:
        async with AsyncPostgresStore.from_conn_string(pg_url) as store:
            await store.setup()
            await remember(store, user, finding, "thread-1", 5)
            return await recall(store, user, finding.question)

    kept = run(keep_and_read())
    assert kept is not None
    assert kept["finding"]["claims"][0]["text"] == "It writes the byte \ufffd as is."
    assert kept["finding"]["question"] == "What does pickle write for b'\ufffd'?"

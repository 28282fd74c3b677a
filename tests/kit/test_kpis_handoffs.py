"""KPIs against hand-counted threads on the kit's own graphs (a fresh database per test).

Four threads: `two_questions` asks two HITL questions at once and both are answered; `plain`
asks a plain question that stays waiting; `plain` runs straight through; `plain` fails past its
retries and halts. Every figure below is counted by hand from that.
"""

from __future__ import annotations

import uuid

from tests.helpers import query, run
from waypoint.audit import workflow_kpis
from waypoint.runner import resume_thread, start_run

APPROVE = {"decisions": [{"type": "approve"}]}


def _thread(graph: str) -> str:
    return f"{graph}-{uuid.uuid4().hex[:8]}"


def test_kpis_count_handoffs_by_kind_waits_and_resolution(sqlite_url: str) -> None:
    db = sqlite_url
    asked = _thread("two_questions")
    both = run(start_run("two_questions", {"topic": "kpis"}, thread_id=asked, db_url=db))
    assert both.status == "waiting" and len(both.interrupts) == 2
    first = run(resume_thread(asked, APPROVE, db_url=db, interrupt_id=both.interrupts[0].id))
    assert first.status == "waiting" and len(first.interrupts) == 1
    done = run(resume_thread(asked, APPROVE, db_url=db, interrupt_id=first.interrupts[0].id))
    assert done.status == "completed"

    waiting = run(start_run("plain", {"steps": ["ask"]}, thread_id=_thread("plain"), db_url=db))
    assert waiting.status == "waiting"
    straight = run(start_run("plain", {"steps": ["ok"]}, thread_id=_thread("plain"), db_url=db))
    assert straight.status == "completed"
    failed = run(start_run("plain", {"steps": ["fail"]}, thread_id=_thread("plain"), db_url=db))
    assert failed.status == "halted"

    kpis = run(workflow_kpis(db_url=db, by_day=True))
    assert kpis["threads"] == 4
    assert kpis["completion_rate"] == 0.5  # two_questions and the straight plain run
    assert kpis["escalation_rate"] == 0.5  # two_questions and the waiting plain run
    assert kpis["intervention_rate"] == 0.25  # only two_questions' questions were answered
    assert kpis["halt_rate"] == 0.25
    assert kpis["waiting"] == 1
    assert kpis["handoffs_by_kind"] == {
        "confirm_a": {"handoffs": 1, "threads": 1},
        "confirm_b": {"handoffs": 1, "threads": 1},
        "question": {"handoffs": 1, "threads": 1},
    }
    assert kpis["human_wait_s"]["count"] == 2
    assert 0 <= kpis["human_wait_s"]["p50"] <= kpis["human_wait_s"]["p95"]
    assert kpis["time_to_resolution_s"]["count"] == 2
    [day] = kpis["by_day"]
    assert (day["threads"], day["completed"], day["halted"], day["escalated"]) == (4, 2, 1, 2)

    rows = query(
        db,
        "SELECT kind, answered_at, answered_by FROM waypoint_handoffs WHERE thread_id = ? "
        "ORDER BY kind",
        (asked,),
    )
    assert [r["kind"] for r in rows] == ["confirm_a", "confirm_b"]
    assert all(r["answered_at"] and r["answered_by"] for r in rows)
    only_plain = run(workflow_kpis(db_url=db, graph="plain"))
    assert (only_plain["threads"], only_plain["escalation_rate"]) == (3, round(1 / 3, 4))


def test_kpis_export_as_prometheus_text(sqlite_url: str) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from tests.conftest import waypoint_cli

    run(start_run("plain", {"steps": ["ask"]}, thread_id=_thread("plain"), db_url=sqlite_url))
    run(start_run("plain", {"steps": ["ok"]}, thread_id=_thread("plain"), db_url=sqlite_url))
    scraped = waypoint_cli("kpis", "--format", "prometheus", "--db", sqlite_url)
    assert scraped.returncode == 0, scraped.stderr
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(scraped.stdout)
        for sample in family.samples
    }
    assert samples[("waypoint_threads", (("graph", "all"),))] == 2
    assert samples[("waypoint_completion_rate", (("graph", "all"),))] == 0.5
    assert samples[("waypoint_escalation_rate", (("graph", "all"),))] == 0.5
    assert samples[("waypoint_handoffs", (("graph", "all"), ("kind", "question")))] == 1
    nodes = {dict(key[1])["node"] for key in samples if key[0] == "waypoint_node_latency_ms"}
    assert nodes == {"first", "second"}
    bad = waypoint_cli("kpis", "--format", "csv", "--db", sqlite_url)
    assert bad.returncode == 2 and "format: expected prometheus" in bad.stderr

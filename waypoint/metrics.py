"""KPIs in the Prometheus text format (`prometheus-client`), for dashboards and scrapers.

`waypoint kpis --format prometheus` prints them; every gauge is labelled with the graph (`all`
when the KPIs cover every graph). Rates are fractions of threads; durations are seconds.
"""

from __future__ import annotations

from typing import Any


def prometheus_text(kpis: dict[str, Any]) -> str:
    """The KPIs of `waypoint.audit.workflow_kpis` as Prometheus exposition text."""
    from prometheus_client import CollectorRegistry, Gauge, generate_latest

    registry = CollectorRegistry()
    graph = kpis.get("graph") or "all"

    def gauge(name: str, doc: str, value: Any, **labels: str) -> None:
        if value is None:
            return
        names = ["graph", *labels]
        metric = _metrics.get(name)
        if metric is None:
            metric = Gauge(name, doc, names, registry=registry)
            _metrics[name] = metric
        metric.labels(graph, *labels.values()).set(float(value))

    _metrics: dict[str, Gauge] = {}
    gauge("waypoint_threads", "Threads in the window.", kpis["threads"])
    gauge("waypoint_threads_waiting", "Threads waiting for a human.", kpis["waiting"])
    for rate in ("completion", "escalation", "intervention", "halt", "failure"):
        gauge(f"waypoint_{rate}_rate", f"Share of threads: {rate}.", kpis[f"{rate}_rate"])
    for kind, entry in kpis["handoffs_by_kind"].items():
        gauge("waypoint_handoffs", "Handoffs to a human, by kind.", entry["handoffs"], kind=kind)
    for name, doc in (
        ("human_wait_s", "Seconds a question waited for its answer."),
        ("time_to_resolution_s", "Seconds from a thread's start to its completion."),
    ):
        for quantile in ("p50", "p95"):
            gauge(f"waypoint_{name}", doc, kpis[name][quantile], quantile=quantile)
    gauge(
        "waypoint_cost_per_completed_usd",
        "Model spend per completed thread, USD.",
        kpis["cost_per_completed_usd"],
    )
    for node, stats in kpis["latency_ms_by_node"].items():
        for quantile in ("p50", "p95"):
            gauge(
                "waypoint_node_latency_ms",
                "Node latency, milliseconds.",
                stats[quantile],
                node=node,
                quantile=quantile,
            )
    return generate_latest(registry).decode()

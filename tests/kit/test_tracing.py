"""OpenTelemetry: with an OTLP endpoint set, each node invocation is a span; without, none.

A local OTLP/HTTP receiver (a real HTTP server decoding the protobuf export requests) gets
the spans a real `waypoint run` process sends as it exits: one per node invocation, named
`node NAME`, with the thread and how the node ended (returned, interrupted, error).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import waypoint_cli


class _Collector:
    """An OTLP/HTTP traces endpoint that keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource in request.resource_spans:
                    service = {
                        a.key: a.value.string_value for a in resource.resource.attributes
                    }.get("service.name")
                    for scope in resource.scope_spans:
                        for span in scope.spans:
                            attributes = {
                                a.key: a.value.string_value or a.value.int_value
                                for a in span.attributes
                            }
                            collector.spans.append(
                                {"name": span.name, "service": service, **attributes}
                            )
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                del args

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def collector() -> Iterator[_Collector]:
    endpoint = _Collector()
    yield endpoint
    endpoint.server.shutdown()


def test_each_node_invocation_is_a_span_when_an_endpoint_is_set(
    sqlite_url: str, collector: _Collector
) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_SERVICE_NAME": "waypoint-test"}
    asking, failing = f"otel-ask-{uuid.uuid4().hex[:6]}", f"otel-fail-{uuid.uuid4().hex[:6]}"
    asked = waypoint_cli("run", "plain", "--input", '{"steps": ["ok", "ask"]}', "--thread",
                         asking, "--db", sqlite_url, env=env)  # fmt: skip
    assert asked.returncode == 3, asked.stderr
    failed = waypoint_cli("run", "plain", "--input", '{"steps": ["fail"]}', "--thread", failing,
                          "--db", sqlite_url, env=env)  # fmt: skip
    assert failed.returncode in (1, 4), failed.stderr

    def of(thread: str) -> list[tuple[str, Any]]:
        return [
            (s["name"], s["waypoint.outcome"])
            for s in collector.spans
            if s["waypoint.thread_id"] == thread
        ]

    assert of(asking) == [("node first", "returned"), ("node second", "interrupted")]
    tries = of(failing)
    assert tries and all(span == ("node first", "error") for span in tries)  # each retry
    assert {s["service"] for s in collector.spans} == {"waypoint-test"}
    assert {s["waypoint.graph"] for s in collector.spans} == {"plain"}

    before = len(collector.spans)
    quiet = waypoint_cli("run", "plain", "--input", '{"steps": ["ok"]}', "--db", sqlite_url,
                         unset=("OTEL_EXPORTER_OTLP_ENDPOINT",))  # fmt: skip
    assert quiet.returncode == 0, quiet.stderr
    assert len(collector.spans) == before  # off by default: nothing sent

"""Redaction: fields marked sensitive never reach a trace file."""

from __future__ import annotations

import json
from typing import Any

from state.support import SupportState
from tests.helpers import PROJECT_ROOT
from waypoint.evals.redaction import REDACTED, Redactor
from waypoint.evals.trace_format import TraceHeader
from waypoint.sensitive import sensitive_field_names, without_keys

CRM = json.loads((PROJECT_ROOT / "nodes" / "support" / "crm_data.json").read_text())


def test_sensitive_fields_are_found_in_nested_models() -> None:
    assert "email" in sensitive_field_names([SupportState])


def test_keys_are_replaced_and_values_scrubbed_everywhere() -> None:
    redactor = Redactor.for_models([SupportState])
    header = TraceHeader(graph="support", input={"note": "mail grace@example.com please"})
    runs: list[dict[str, Any]] = [
        {"outputs": {"lookup": {"customer": {"name": "Grace", "email": "grace@example.com"}}}},
        {"inputs": {"messages": [{"content": "write to grace@example.com"}]}, "error": None},
    ]
    clean_header, clean_runs = redactor(header, runs)
    text = json.dumps([clean_header.model_dump(), clean_runs])
    assert "grace@example.com" not in text
    assert clean_runs[0]["outputs"]["lookup"]["customer"]["email"] == REDACTED
    assert clean_runs[0]["outputs"]["lookup"]["customer"]["name"] == "Grace"
    assert REDACTED in clean_runs[1]["inputs"]["messages"][0]["content"]


def test_no_shipped_trace_holds_an_email_address() -> None:
    emails = [customer["email"] for customer in CRM["customers"]]
    traces = sorted((PROJECT_ROOT / "evals" / "support" / "traces").glob("*.jsonl"))
    assert len(traces) >= 30
    for path in traces:
        text = path.read_text()
        assert not [e for e in emails if e in text], path.name


def test_sensitive_keys_match_whatever_their_case() -> None:
    """`Email` and `EMAIL` (a CRM payload, a tool's arguments) are as sensitive as `email`."""
    redactor = Redactor.for_models([SupportState])
    runs: list[dict[str, Any]] = [
        {"inputs": {"customer": {"Email": "ada@example.com", "EMAIL": "alan@example.com"}}},
        {"outputs": {"text": "copy to ada@example.com and alan@example.com"}},
    ]
    _, clean = redactor(TraceHeader(graph="support"), runs)
    assert clean[0]["inputs"]["customer"] == {"Email": REDACTED, "EMAIL": REDACTED}
    assert "@example.com" not in json.dumps(clean)


def test_the_ledger_drops_sensitive_keys_whatever_their_case() -> None:
    hidden = sensitive_field_names([SupportState])
    value = {"lookup": {"customer": {"Email": "a@b.c", "eMail": "d@e.f", "name": "Ada"}}}
    assert without_keys(value, hidden) == {"lookup": {"customer": {"name": "Ada"}}}

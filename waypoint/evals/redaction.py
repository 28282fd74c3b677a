"""Redaction: fields marked sensitive never reach a trace file.

A field is sensitive when its pydantic `Field` says so:
`email: str = Field(json_schema_extra={"sensitive": True})`. Before a trace is written, the value
of every key with a sensitive field's name, in any case (`email`, `Email`, `EMAIL`), is
replaced, at any depth of any run and of the
header, and every occurrence of such a value inside other strings (a prompt, an interrupt's
description, an error message) is replaced too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from waypoint.evals.trace_format import TraceHeader
from waypoint.sensitive import is_sensitive, sensitive_field_names

REDACTED = "[redacted]"
"""What a sensitive value is replaced with."""

MIN_SCRUB_LENGTH = 4
"""Sensitive values shorter than this are replaced under their key but not searched for."""


@dataclass
class Redactor:
    """Replaces sensitive values (by key, then wherever their text appears)."""

    keys: frozenset[str]
    extra_values: set[str] = field(default_factory=set)
    """Values to scrub wherever they appear, besides those found under sensitive keys."""

    @classmethod
    def for_models(cls, models: Iterable[type[BaseModel]]) -> Redactor:
        """A redactor for the sensitive fields of these models (state, input, output...)."""
        return cls(keys=sensitive_field_names(models))

    def _collect(self, value: Any, found: set[str]) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if (
                    is_sensitive(key, self.keys)
                    and isinstance(item, str | int | float)
                    and item != REDACTED
                ):
                    found.add(str(item))
                else:
                    self._collect(item, found)
        elif isinstance(value, list):
            for item in value:
                self._collect(item, found)

    def _scrub(self, value: Any, needles: list[str]) -> Any:
        if isinstance(value, dict):
            return {
                key: REDACTED if is_sensitive(key, self.keys) else self._scrub(item, needles)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self._scrub(item, needles) for item in value]
        if isinstance(value, str) and needles:
            for needle in needles:
                if needle in value:
                    value = value.replace(needle, REDACTED)
        return value

    def __call__(
        self, header: TraceHeader, runs: list[dict[str, Any]]
    ) -> tuple[TraceHeader, list[dict[str, Any]]]:
        """Redact a whole trace (values found in one run are scrubbed from all of them)."""
        if not self.keys and not self.extra_values:
            return header, runs
        head = header.model_dump(mode="json")
        found = set(self.extra_values)
        self._collect(head, found)
        for run in runs:
            self._collect(run, found)
        needles = sorted((v for v in found if len(v) >= MIN_SCRUB_LENGTH), key=len, reverse=True)
        clean_head = TraceHeader.model_validate(self._scrub(head, needles))
        return clean_head, [self._scrub(run, needles) for run in runs]

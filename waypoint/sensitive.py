"""Fields marked sensitive in a pydantic schema: `Field(json_schema_extra={"sensitive": True})`.

The audit ledger drops them from its digests and summaries; the eval recorder replaces them in
trace files (`waypoint.evals.redaction`). Both find them here. Keys are matched without regard
to case (`email`, `Email`, `EMAIL`): a value copied under another spelling (a prompt's
variables, a tool's arguments, a CRM payload) is as sensitive as the field it came from.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
    for arg in getattr(annotation, "__args__", ()) or ():
        found.extend(_nested_models(arg))
    return found


def sensitive_field_names(models: Iterable[type[BaseModel]]) -> frozenset[str]:
    """Names of the fields marked sensitive anywhere in these pydantic model trees."""
    return _sensitive_in(tuple(models))


@functools.cache  # schemas are classes, defined once per process
def _sensitive_in(models: tuple[type[BaseModel], ...]) -> frozenset[str]:
    names: set[str] = set()
    stack = list(models)
    seen: set[type[BaseModel]] = set()
    while stack:
        model = stack.pop()
        if model in seen or not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue  # not a pydantic model (a TypedDict state): nothing is marked
        seen.add(model)
        for name, info in model.model_fields.items():
            extra = info.json_schema_extra
            if isinstance(extra, dict) and extra.get("sensitive"):
                names.add(name)
            stack.extend(_nested_models(info.annotation))
    return frozenset(names)


@functools.cache  # a few sets of names per process
def folded(names: frozenset[str]) -> frozenset[str]:
    """The names case-folded, for matching keys whatever their case (`is_sensitive`)."""
    return frozenset(name.casefold() for name in names)


def is_sensitive(key: object, names: frozenset[str]) -> bool:
    """Whether a key is one of the sensitive `names`, whatever its case."""
    return isinstance(key, str) and key.casefold() in folded(names)


def without_keys(value: Any, hidden: frozenset[str]) -> Any:
    """A copy of a JSON-ready value without the keys in `hidden` (any case), at any depth."""
    if not hidden:
        return value
    if isinstance(value, dict):
        return {
            k: without_keys(v, hidden) if isinstance(v, dict | list) else v
            for k, v in value.items()
            if not is_sensitive(k, hidden)
        }
    if isinstance(value, list):
        return [without_keys(v, hidden) if isinstance(v, dict | list) else v for v in value]
    return value

"""Turn typed values into the plain-JSON state updates that checkpoints store."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def dump(value: Any) -> Any:
    """Pydantic models (also inside lists and dicts) become JSON-ready values."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [dump(item) for item in value]
    if isinstance(value, dict):
        return {key: dump(item) for key, item in value.items()}
    return value


def update(**fields: Any) -> dict[str, Any]:
    """A node's return value: each field dumped to plain JSON."""
    return {name: dump(value) for name, value in fields.items()}

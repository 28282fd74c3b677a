"""Plain-JSON copies of what flows through a graph run (state, commands, messages, models)."""

from __future__ import annotations

import base64
import dataclasses
import enum
from datetime import date, datetime
from decimal import Decimal
from pathlib import PurePath
from typing import Any
from uuid import UUID

from langchain_core.load import dumpd
from langchain_core.load.serializable import Serializable
from pydantic import BaseModel


def jsonable(value: Any, *, depth: int = 0) -> Any:
    """A JSON-ready copy of `value`; anything unknown becomes its `repr`.

    Pydantic models are dumped in JSON mode, LangChain objects as LangSmith stores them
    (`dumpd`), dataclasses (LangGraph's `Command`, `Interrupt`, `Send`) field by field.
    """
    if depth > 60:
        return repr(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v, depth=depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v, depth=depth + 1) for v in value]
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Serializable):
        return jsonable(dumpd(value), depth=depth + 1)
    if isinstance(value, UUID | Decimal | PurePath):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return jsonable(value.value, depth=depth + 1)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return jsonable(fields, depth=depth + 1)
    return repr(value)

"""Store values every backend can hold: a NUL character in a text becomes U+FFFD.

LangGraph's Postgres Store keeps values as JSONB, which cannot hold NUL (U+0000): a value
quoting binary text (a passage a search provider returned, a tool's raw output) made the
write fail, and with it the node that wrote it. The SQLite Store kept the NUL. The Stores
`open_stores` opens replace it on both backends as a value is written, so what a workflow
reads back is the same on either and a write never fails on it. Keys and namespaces are
left as they are: they name an item, and a silent change would name another. The ledger writes
its columns through the same `without_nul` (Postgres text cannot hold NUL either).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langgraph.store.base import Op, PutOp, Result
from langgraph.store.postgres.aio import AsyncPostgresStore
from langgraph.store.sqlite.aio import AsyncSqliteStore

NUL, REPLACEMENT = "\x00", "\ufffd"


def without_nul(value: Any) -> Any:
    """`value` with NUL replaced in every text it holds (dict keys too); the rest as it is."""
    if isinstance(value, str):
        return value.replace(NUL, REPLACEMENT) if NUL in value else value
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    if isinstance(value, tuple):  # a named tuple too: JSON keeps its items, not its names
        return tuple(without_nul(item) for item in value)
    return value


def holdable(ops: Iterable[Op]) -> list[Op]:
    """`ops` with NUL replaced in the values of its puts (the rest as they are)."""
    return [
        op._replace(value=without_nul(op.value))
        if isinstance(op, PutOp) and op.value is not None
        else op
        for op in ops
    ]


class NulSafePostgresStore(AsyncPostgresStore):
    """LangGraph's `AsyncPostgresStore`, writing values with NUL replaced."""

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Every operation goes through here (`aput` and the sync API batch into it)."""
        return await super().abatch(holdable(ops))


class NulSafeSqliteStore(AsyncSqliteStore):
    """LangGraph's `AsyncSqliteStore`, writing values as the Postgres one does."""

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Every operation goes through here (`aput` and the sync API batch into it)."""
        return await super().abatch(holdable(ops))

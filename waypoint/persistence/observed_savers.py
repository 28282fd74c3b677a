"""Checkpoint savers that tell the current run which of its checkpoints they saved.

The audit ledger marks a node's row `committed` once the checkpoint holding the node's writes
is saved. Reading the checkpoints back after the run costs a query per run; these savers report
each successful `aput` to the run's `CheckpointObserver` (a context variable the runner sets)
instead, as it happens. Without an observer (a server run, a direct `graph.ainvoke`) they are
LangGraph's own savers; they store exactly what those store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any, Protocol

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from waypoint.faults import pause_point
from waypoint.persistence.at_rest import EncryptsInlineValues


class CheckpointObserver(Protocol):
    """Told about every checkpoint saved in its context."""

    def saved(
        self, config: RunnableConfig, metadata: CheckpointMetadata, saved: RunnableConfig
    ) -> None:
        """`aput` returned: the checkpoint named by `saved` is in the database."""
        ...


_observer: ContextVar[CheckpointObserver | None] = ContextVar(
    "waypoint_checkpoint_observer", default=None
)


def set_observer(observer: CheckpointObserver | None) -> Any:
    """Report the checkpoints saved in this context to `observer`; returns the reset token."""
    return _observer.set(observer)


def reset_observer(token: Any) -> None:
    """Undo `set_observer`."""
    _observer.reset(token)


class _ReportsSaves(BaseCheckpointSaver[str]):
    """Mixed in before a LangGraph saver: its `aput`, then a report to the observer."""

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: dict[str, Any],
    ) -> RunnableConfig:
        """Save the checkpoint, then report it."""
        saved = await super().aput(config, checkpoint, metadata, new_versions)
        if (observer := _observer.get()) is not None:
            observer.saved(config, metadata, saved)
        return saved

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Save a task's writes (crash tests may freeze right after: `writes:<node>`)."""
        await super().aput_writes(config, writes, task_id, task_path)
        pause_point(f"writes:{task_path.rsplit(', ', 1)[-1]}")


class ObservedPostgresSaver(_ReportsSaves, EncryptsInlineValues):
    """`AsyncPostgresSaver` that reports each saved checkpoint to the context's observer.

    With an encrypting serializer it also inlines no plain value (`EncryptsInlineValues`).
    """


class ObservedSqliteSaver(_ReportsSaves, AsyncSqliteSaver):
    """`AsyncSqliteSaver` that reports each saved checkpoint to the context's observer.

    A refused insert (the writer fence's trigger) is rolled back at once: `sqlite3` opened a
    transaction for it, and left open it would hold the database's write lock, stalling every
    other writer of the file until this connection's next commit.
    """

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: dict[str, Any],
    ) -> RunnableConfig:
        """Save the checkpoint and report it; roll back a refused insert."""
        try:
            return await super().aput(config, checkpoint, metadata, new_versions)
        except sqlite3.Error:
            async with self.lock:
                if self.conn.in_transaction:
                    await self.conn.rollback()
            raise

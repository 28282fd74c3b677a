"""A thread written by older code is migrated through registered steps, or refused clearly."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from waypoint import state_versions
from waypoint.admission import trusted
from waypoint.errors import SchemaMigrationMissing
from waypoint.persistence.stores import open_stores
from waypoint.runner import resume_thread, start_run
from waypoint.state_versions import register_state_migration
from waypoint.workflows import load_workflow

NEEDS_APPROVAL = {
    "customer_id": "C-200",
    "order_id": "O-2",
    "message": "The chair is damaged, please refund it.",
}


async def _age_thread(db_url: str, thread_id: str) -> None:
    """Make the thread look as if version-0 code wrote it (schema_version 0, no rule text)."""
    workflow = load_workflow("support")
    async with open_stores(db_url) as stores:
        graph = workflow.compile(stores.checkpointer)
        config: Any = {"configurable": {"thread_id": thread_id}}
        with trusted():  # rewriting history as older code would have left it
            await graph.aupdate_state(config, {"schema_version": 0})


def test_old_thread_without_a_migration_is_refused_and_unchanged(db_url: str) -> None:
    async def scenario() -> None:
        ticket = {**NEEDS_APPROVAL, "ticket_id": f"T-{uuid.uuid4().hex[:6]}"}
        waiting = await start_run("support", ticket, db_url=db_url)
        await _age_thread(db_url, waiting.thread_id)
        with pytest.raises(SchemaMigrationMissing, match=r"no migration for v0→v1"):
            await resume_thread(
                waiting.thread_id, {"decisions": [{"type": "approve"}]}, db_url=db_url
            )

    asyncio.run(scenario())


def test_old_thread_is_migrated_then_resumed(db_url: str) -> None:
    seen: list[int] = []

    def v0_to_v1(values: dict[str, Any]) -> dict[str, Any]:
        seen.append(int(values["schema_version"]))
        return {"reviewer_feedback": ["migrated from v0"]}

    async def scenario() -> None:
        ticket = {**NEEDS_APPROVAL, "ticket_id": f"T-{uuid.uuid4().hex[:6]}"}
        waiting = await start_run("support", ticket, db_url=db_url)
        await _age_thread(db_url, waiting.thread_id)
        register_state_migration("support", 0, v0_to_v1)
        try:
            done = await resume_thread(
                waiting.thread_id, {"decisions": [{"type": "approve"}]}, db_url=db_url
            )
        finally:
            state_versions._MIGRATIONS.pop(("support", 0), None)
        assert seen == [0]
        assert done.status == "completed"
        assert done.values["schema_version"] == 1
        assert done.values["reviewer_feedback"] == ["migrated from v0"]

    asyncio.run(scenario())

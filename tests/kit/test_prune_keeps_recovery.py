"""`prune` never takes away what `resume` needs: a failed thread stays resumable."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.helpers import run
from waypoint.retention import prune
from waypoint.runner import resume_thread, start_run, thread_status


def test_failed_thread_is_resumable_after_prune_keep_last_1(db_url: str, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    failed = run(start_run("flaky", {"marker": str(marker)}, db_url=db_url))
    assert failed.status == "failed", failed.values
    assert failed.values["failure"]["node"] == "flaky"

    pruned = run(prune(db_url=db_url, thread_id=failed.thread_id, keep_last=1))
    assert pruned.threads == [failed.thread_id]
    assert pruned.rows_before > pruned.rows_after  # something was removed
    assert run(thread_status(failed.thread_id, db_url=db_url)).status == "failed"

    marker.write_text("now it works")
    resumed = run(resume_thread(failed.thread_id, db_url=db_url))
    assert resumed.status == "completed", resumed.values
    assert resumed.values["done"] is True


def test_prune_of_a_completed_kit_thread_keeps_its_final_state(db_url: str, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    marker.write_text("present")
    thread = f"kit-{uuid.uuid4().hex[:8]}"
    done = run(start_run("flaky", {"marker": str(marker)}, thread_id=thread, db_url=db_url))
    assert done.status == "completed"
    pruned = run(prune(db_url=db_url, thread_id=thread, keep_last=1))
    assert pruned.rows_before > pruned.rows_after > 0
    after = run(thread_status(thread, db_url=db_url))
    assert (after.status, after.values["done"]) == ("completed", True)

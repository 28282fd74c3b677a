"""Re-record a suite's cases from their `record` sections (input, context, human answers).

Each case runs through the real runner on a throwaway SQLite database, with whatever providers
the configuration routes to (the offline ones unless a route or a `model` says otherwise), and
its trace file is rewritten. Thread ids are `eval-<case id>`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from waypoint.evals.recording import RecordedCase, record_case
from waypoint.evals.suite import Case, Suite
from waypoint.policy import operator_policy


async def record_suite(
    suite: Suite,
    *,
    only: list[str] | None = None,
    on_case: Callable[[Case, RecordedCase], None] | None = None,
) -> list[Path]:
    """Record every case that has a `record` section (or only the cases in `only`)."""
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="waypoint-record-") as workdir:
        for case in suite.cases:
            if case.record is None or (only and case.id not in only):
                continue
            db_url = f"sqlite:///{Path(workdir) / f'{case.id}.sqlite'}"  # each case its own
            with operator_policy(suite.graph, case.record.policy):
                recorded = await record_case(
                    suite.graph,
                    case.record.input,
                    answers=case.record.answers,
                    context=case.record.context,
                    db_url=db_url,
                    thread_id=f"eval-{case.id}",
                )
            written.append(recorded.write(suite.trace_path(case)))
            if on_case is not None:
                on_case(case, recorded)
    return written

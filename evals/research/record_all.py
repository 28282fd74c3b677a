"""Re-record every case of the `research` suite, then rewrite its baseline.

    .venv/bin/python evals/research/record_all.py            # all cases
    .venv/bin/python evals/research/record_all.py CASE-ID ... # only these (baseline untouched)

Cases run with the offline providers (deterministic stand-ins, no key, no network) through the
real runner, each on a throwaway SQLite database. Two kinds of case need more than their
`record` section, and get it here: the failure cases route `search_docs` to a test provider
(`tests/research/faults.py`, `ROUTES`), and the memory cases first run a seed thread of the same
user on the same database (`SEEDS`). Replay serves what was recorded, so neither is needed then.
Exits 1 when a freshly recorded case fails its expectations.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from waypoint.encryption import KEY_ENV, KEY_FILE_ENV  # noqa: E402
from waypoint.evals.recording import record_case  # noqa: E402
from waypoint.evals.report import build_report  # noqa: E402
from waypoint.evals.report_files import write_baseline  # noqa: E402
from waypoint.evals.session import run_suite  # noqa: E402
from waypoint.evals.suite import load_suite  # noqa: E402
from waypoint.runner import start_run  # noqa: E402

ROUTES = {
    "failing-task-unanswered": "flaky-search",
    "failing-provider-fallback": "flaky-search,stdlib-scan",
}
"""`search_docs` routes of the failure cases (test providers of tests/research/faults.py)."""

SEEDS = {
    "memory-reuse": {"question": "What does json.dumps do?", "max_sub_questions": 2},
    "memory-off": {"question": "What does json.dumps do?", "max_sub_questions": 2},
}
"""The thread each memory case's user ran first, on the same database."""


async def main(only: list[str]) -> int:
    """Record (all cases, or `only` these), score them, and rewrite the baseline."""
    for name in (KEY_ENV, KEY_FILE_ENV):  # shipped traces are project files, kept readable
        if os.environ.pop(name, None):
            print(f"record_all: {name} ignored: the shipped traces are written unencrypted")
    os.environ["WAYPOINT_ACTOR"] = "eval-recorder"  # memory is per user: one user for all
    import tests.research.faults  # noqa: F401  (registers the test providers)

    suite = load_suite(HERE / "suite.yaml")
    with tempfile.TemporaryDirectory(prefix="waypoint-record-") as workdir:
        for case in suite.cases:
            if case.record is None or (only and case.id not in only):
                continue
            db_url = f"sqlite:///{Path(workdir) / f'{case.id}.sqlite'}"
            if case.id in SEEDS:
                await start_run(
                    "research", SEEDS[case.id], thread_id=f"eval-seed-{case.id}", db_url=db_url
                )
            route = ROUTES.get(case.id)
            if route:
                os.environ["WAYPOINT_ROUTE_SEARCH_DOCS"] = route
            try:
                recorded = await record_case(
                    suite.graph,
                    case.record.input,
                    answers=case.record.answers,
                    context=case.record.context,
                    db_url=db_url,
                    thread_id=f"eval-{case.id}",
                )
            finally:
                os.environ.pop("WAYPOINT_ROUTE_SEARCH_DOCS", None)
            recorded.write(suite.trace_path(case))
            print(f"recorded {case.id:34} {recorded.report.status:9} {len(recorded.runs):4} runs")
    report = build_report(await run_suite(suite, mode="score", case_ids=only or None))
    if not only:
        print(f"wrote {write_baseline(report, HERE / 'baseline.json')}")
    for result in report.results:
        if not result.passed:
            notes = "; ".join(o.comment for o in result.outcomes if o.passed is False)
            print(f"FAILS {result.case_id}: {result.error or notes}")
    passed = sum(r.passed for r in report.results)
    print(f"{passed}/{len(report.results)} recorded cases meet their expectations")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))

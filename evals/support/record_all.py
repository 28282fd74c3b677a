"""Re-record every case of the `support` suite, then rewrite its baseline.

    .venv/bin/python evals/support/record_all.py            # all cases
    .venv/bin/python evals/support/record_all.py CASE-ID ... # only these (baseline untouched)

Cases run with the offline providers (deterministic stand-ins, no key, no network) through the
real runner on a throwaway SQLite database; traces are written to `traces/<case>.jsonl`,
redacted. Rerun it after an intended change of behaviour, review the diff of traces/ and
baseline.json, and commit both. Exits 1 when a freshly recorded case fails its expectations.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from waypoint.encryption import KEY_ENV, KEY_FILE_ENV
from waypoint.evals.record_suite import record_suite
from waypoint.evals.recording import RecordedCase
from waypoint.evals.report import build_report
from waypoint.evals.report_files import write_baseline
from waypoint.evals.session import run_suite
from waypoint.evals.suite import Case, load_suite

HERE = Path(__file__).resolve().parent


def _show(case: Case, recorded: RecordedCase) -> None:
    providers = ", ".join(sorted(set(recorded.header.providers.values())))
    print(
        f"recorded {case.id:42} {recorded.report.status:9} {len(recorded.runs):3} runs  {providers}"
    )


async def main(only: list[str]) -> int:
    """Record (all cases, or `only` these), score them, and rewrite the baseline."""
    for name in (KEY_ENV, KEY_FILE_ENV):  # shipped traces are project files, kept readable
        if os.environ.pop(name, None):
            print(f"record_all: {name} ignored: the shipped traces are written unencrypted")
    suite = load_suite(HERE / "suite.yaml")
    await record_suite(suite, only=only or None, on_case=_show)
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

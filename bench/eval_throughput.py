"""Eval benchmark: score-mode throughput, and replay against plain offline runs.

    .venv/bin/python -m bench.eval_throughput [--cases 1000] [--repeats 3]

- Scoring throughput: the shipped `evals/support` suite grown to `--cases` cases (its cases
  repeated under new ids, each reading its trace file again), scored in score mode; the best of
  `--repeats` runs, in traces per second. Goal: at least 500 per second.
- Replay cost: every case of the shipped suite replayed (`--mode replay`: today's graph through
  the runner, model answers served from the trace, then scored) against the same cases run
  plainly through the runner with the offline providers (start, then each human answer), both
  on a throwaway SQLite file; medians of interleaved repeats. Goal: replay within 2x.

`measure()` returns the figures as a dict; `python -m bench` runs it through
`bench/suites/eval_throughput.py` (fewer cases and one repeat with `--quick`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from waypoint.evals.recording import answer_builder
from waypoint.evals.session import run_suite
from waypoint.evals.suite import Suite, load_suite
from waypoint.policy import operator_policy
from waypoint.runner import resume_thread, start_run

SUITE = Path(__file__).resolve().parent.parent / "evals" / "support"
SCORE_GOAL = 500.0
REPLAY_GOAL = 2.0


def grown(suite: Suite, size: int) -> Suite:
    """The suite with its cases repeated (under new ids) until it has `size` cases."""
    cases = [
        case.model_copy(update={"id": f"{case.id}-{index // len(suite.cases)}"})
        for index, case in zip(range(size), _cycle(suite), strict=False)
    ]
    return suite.model_copy(update={"cases": cases})


def _cycle(suite: Suite) -> Any:
    while True:
        yield from suite.cases


async def score_seconds(suite: Suite) -> float:
    """Wall time of one score-mode run of `suite`."""
    started = time.perf_counter()
    run = await run_suite(suite, mode="score")
    elapsed = time.perf_counter() - started
    assert all(result.passed for result in run.results), "the shipped suite must pass"
    return elapsed


async def plain_seconds(suite: Suite) -> float:
    """Wall time of running every recorded case through the runner, offline, no recorder."""
    with tempfile.TemporaryDirectory(prefix="waypoint-bench-") as workdir:
        db_url = f"sqlite:///{Path(workdir) / 'plain.sqlite'}"
        started = time.perf_counter()
        for case in suite.cases:
            assert case.record is not None
            thread = f"plain-{case.id}-{uuid.uuid4().hex[:8]}"
            # the case was recorded under its own policy, as the eval replay runs it
            with operator_policy(suite.graph, case.record.policy):
                report = await start_run(
                    suite.graph,
                    case.record.input,
                    thread_id=thread,
                    db_url=db_url,
                    # offline: a recorded case's real-model setting is served by the replay only
                    context={k: v for k, v in (case.record.context or {}).items() if k != "model"},
                )
                for answer in case.record.answers:
                    if report.status != "waiting":
                        break
                    report = await resume_thread(thread, answer_builder(answer), db_url=db_url)
        return time.perf_counter() - started


async def replay_seconds(suite: Suite) -> float:
    """Wall time of one replay-mode run of `suite` (runs and scoring)."""
    started = time.perf_counter()
    run = await run_suite(suite, mode="replay")
    elapsed = time.perf_counter() - started
    assert all(result.passed for result in run.results), "replay of the shipped suite must pass"
    return elapsed


async def measure(
    cases: int = 1000, repeats: int = 3, replay_cases: int | None = None
) -> dict[str, Any]:
    """Measure both figures; see the module docstring.

    Args:
        cases: size of the grown suite scored for the throughput figure.
        repeats: score runs (the best counts) and replay/plain pairs (medians count).
        replay_cases: replay only the first this many cases of the shipped suite (None: all).
    """
    suite = load_suite(SUITE)
    big = grown(suite, cases)
    if replay_cases is not None:
        suite = suite.model_copy(update={"cases": suite.cases[:replay_cases]})
    await score_seconds(suite)  # warm imports and the file cache
    best = min([await score_seconds(big) for _ in range(repeats)])
    plain: list[float] = []
    replay: list[float] = []
    await plain_seconds(suite)  # warm the runner path once
    for _ in range(repeats):
        plain.append(await plain_seconds(suite))
        replay.append(await replay_seconds(suite))
    plain_median, replay_median = statistics.median(plain), statistics.median(replay)
    throughput = cases / best
    ratio = replay_median / plain_median
    return {
        "score_cases": cases,
        "score_seconds": best,
        "score_traces_per_second": throughput,
        "score_goal_met": throughput >= SCORE_GOAL,
        "replay_cases": len(suite.cases),
        "plain_seconds": plain_median,
        "replay_seconds": replay_median,
        "replay_over_plain": ratio,
        "replay_goal_met": ratio <= REPLAY_GOAL,
    }


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    figures = asyncio.run(measure(args.cases, args.repeats))
    verdict = {True: "PASS", False: "MISS"}
    print(
        f"score mode: {figures['score_cases']} traces in {figures['score_seconds']:.3f}s = "
        f"{figures['score_traces_per_second']:.0f} traces/s "
        f"(goal >= {SCORE_GOAL:.0f}/s: {verdict[figures['score_goal_met']]})"
    )
    print(
        f"replay: {figures['replay_cases']} cases in {figures['replay_seconds']:.3f}s vs "
        f"{figures['plain_seconds']:.3f}s run plainly offline = "
        f"{figures['replay_over_plain']:.2f}x (goal <= {REPLAY_GOAL:.0f}x: "
        f"{verdict[figures['replay_goal_met']]})"
    )


if __name__ == "__main__":
    main()

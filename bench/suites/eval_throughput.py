"""Eval scoring throughput and replay cost, from `bench/eval_throughput.py`, in the main run.

Full mode: the shipped `evals/support` suite grown to 1,000 cases, scored 3 times (best run
counts), and all 41 recorded cases replayed against plain offline runs, 3 interleaved pairs
(medians count), as `python -m bench.eval_throughput` does by default. Quick mode: 200 cases
scored once, the first 10 cases replayed once.
"""

from __future__ import annotations

from bench.context import BenchContext
from bench.eval_throughput import REPLAY_GOAL, SCORE_GOAL, measure
from bench.goals import Goal
from bench.registry import Section, benchmark
from bench.stats import ms, rate, ratio

FULL = (1000, 3, None)
"""(cases scored, repeats, cases replayed; None: all) for the full run."""
QUICK = (200, 1, 10)
"""The same for `--quick`."""


@benchmark("eval-throughput", order=70)
async def eval_throughput(ctx: BenchContext) -> Section:
    cases, repeats, replay_cases = QUICK if ctx.quick else FULL
    figures = await measure(cases, repeats, replay_cases)
    replayed = int(figures["replay_cases"])
    plain, replay = float(figures["plain_seconds"]), float(figures["replay_seconds"])
    throughput = float(figures["score_traces_per_second"])
    section = Section(
        title="evals: score-mode throughput, and replay against plain offline runs",
        columns=["what", "cases", "seconds", "ms/case", "cases/s", "vs plain"],
        rows=[
            {
                "what": "score mode (recorded traces, no graph run)",
                "cases": str(cases),
                "seconds": f"{figures['score_seconds']:.2f}",
                "ms/case": ms(float(figures["score_seconds"]) / cases),
                "cases/s": rate(throughput),
                "vs plain": "-",
            },
            {
                "what": "replay (graph rerun through the runner, recorded answers, scored)",
                "cases": str(replayed),
                "seconds": f"{replay:.2f}",
                "ms/case": ms(replay / replayed),
                "cases/s": rate(replayed / replay),
                "vs plain": ratio(float(figures["replay_over_plain"])),
            },
            {
                "what": "plain offline runs (start_run, then each recorded human answer)",
                "cases": str(replayed),
                "seconds": f"{plain:.2f}",
                "ms/case": ms(plain / replayed),
                "cases/s": rate(replayed / plain),
                "vs plain": "1.00x",
            },
        ],
        notes=[
            f"Score mode: the shipped suite's cases repeated under new ids up to {cases} (each "
            f"reads its trace file again), best of {repeats} run(s); `bench/eval_throughput.py`.",
            f"Replay and plain: {'the first ' if replay_cases else 'all '}{replayed} recorded "
            f"cases, each on a throwaway SQLite file, median of {repeats} interleaved pair(s).",
        ],
        data=dict(figures),
    )
    section.goals += [
        Goal(
            name=f"eval score mode vs {SCORE_GOAL:.0f} traces/s",
            ratio=throughput / SCORE_GOAL,
            bound=1.0,
            direction=">=",
            detail=f"{throughput:.0f} traces/s ({cases} cases)",
        ),
        Goal(
            name="eval replay vs plain offline runs",
            ratio=float(figures["replay_over_plain"]),
            bound=REPLAY_GOAL,
            direction="<=",
            detail=f"{replay:.2f} s vs {plain:.2f} s ({replayed} cases, median)",
        ),
    ]
    return section

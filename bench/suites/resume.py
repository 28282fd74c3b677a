"""Interrupt → resume: the C-200/O-2 ticket waits at `approval`, then a human approves.

Two latencies per variant: from start until the run stops at the interrupt, and from the
resume call (`resume_thread` with the HITL answer; `Command(resume=...)` for the graphs) until
the ticket is refunded. Durability sync everywhere (the runner's default).
"""

from __future__ import annotations

from typing import cast

from bench.context import BenchContext
from bench.drivers import BARE, Backend, BackendName, Paused, open_backend, pause_at_approval
from bench.drivers import resume_operation as resume_op
from bench.registry import Section, benchmark
from bench.stats import Summary, ms, ratio, spread
from bench.timing import Operation, interleaved, paired_ratio


def _pause_operation(backend: Backend, variant: str, waiting: list[Paused]) -> Operation:
    async def pause(_: int) -> None:
        waiting.append(await pause_at_approval(backend, variant))

    return pause


@benchmark("interrupt-resume", order=30)
async def interrupt_resume(ctx: BenchContext) -> Section:
    section = Section(
        title="interrupt → resume (C-200/O-2 waits at approval, then approve)",
        columns=["saver", "phase", "variant", "median ms", "p10-p90 ms", "vs bare"],
        notes=[
            f"{ctx.scale.runs} timed threads per variant after {ctx.scale.warmup} warm-up, "
            "variants interleaved; durability sync; vs bare = median over rounds of (variant "
            "time / bare LangGraph time in the same round).",
            "start → interrupt: `start_run` / `ainvoke(ticket)` until the approval interrupt; "
            "resume → end: `resume_thread(thread, {decisions: [approve]})` / "
            "`ainvoke(Command(resume=...))` until the ticket is refunded.",
        ],
    )
    for name in cast(list[BackendName], ctx.backends()):
        async with open_backend(ctx, name) as backend:
            variants = backend.variants()
            waiting: dict[str, list[Paused]] = {v: [] for v in variants}
            pauses = await interleaved(
                {v: _pause_operation(backend, v, waiting[v]) for v in variants},
                runs=ctx.scale.runs,
                warmup=ctx.scale.warmup,
            )
            for queue in waiting.values():
                queue.reverse()  # resume oldest first
            resumes = await interleaved(
                {v: resume_op(backend, v, waiting[v]) for v in variants},
                runs=ctx.scale.runs,
                warmup=ctx.scale.warmup,
            )
        for phase, samples in (("start → interrupt", pauses), ("resume → end", resumes)):
            summaries = {v: Summary.of(s.wall) for v, s in samples.items()}
            for variant in variants:
                summary = summaries[variant]
                vs_bare = paired_ratio(samples[variant].wall, samples[BARE].wall)
                section.rows.append(
                    {
                        "saver": name,
                        "phase": phase,
                        "variant": variant,
                        "median ms": ms(summary.median),
                        "p10-p90 ms": spread(summary),
                        "vs bare": ratio(vs_bare),
                    }
                )
                section.data[f"{name}/{phase}/{variant}"] = {
                    **summary.as_dict(),
                    "vs_bare": vs_bare,
                }
    if ctx.pg_url is None:
        section.notes.append(f"No Postgres rows: {ctx.pg_problem}")
    return section

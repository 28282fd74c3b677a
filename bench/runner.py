"""Run the registered benchmarks in one process, print the tables, write the report.

Where the Markdown report goes:

- a full run (`python -m bench`, with or without `--quick`) writes `docs/benchmarks.md`, or the
  path given with `--report`;
- a partial run (`--only a,b`) writes no report unless `--report PATH` names one, so checking a
  few benchmarks never replaces the full record with a report of only those sections;
- `--no-write` writes nothing either way (the console tables and `--json` are unaffected).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

import bench.suites  # noqa: F401  (registers the benchmarks)
from bench.context import FULL, QUICK, BenchContext
from bench.databases import bench_postgres, server_version, sqlite_folder
from bench.goals import ProfileTarget
from bench.machine import describe, load_average, python_speed
from bench.profiling import profile, pyinstrument
from bench.registry import registered
from bench.report import (
    Results,
    now,
    print_goals,
    print_machine,
    print_profiles,
    print_section,
    write_json,
    write_markdown,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REPORT = PROJECT_ROOT / "docs" / "benchmarks.md"


@dataclass(frozen=True)
class Options:
    """Command-line options of `python -m bench`."""

    quick: bool
    """Development mode (under two minutes)."""
    only: tuple[str, ...]
    """Run only these benchmarks (empty: all)."""
    report: Path | None
    """Where the Markdown report goes; None: not written (a partial run, or `--no-write`)."""
    json: Path | None
    """Where to write the raw numbers, if anywhere."""
    profile: bool
    """Profile the workloads of missed goals (needs pyinstrument)."""


def parse_args(argv: list[str]) -> Options:
    """Parse `python -m bench` arguments."""
    names = [b.name for b in registered()]
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Waypoint against bare LangGraph and the database floor, in one run.",
    )
    parser.add_argument("--quick", action="store_true", help="development mode (< 2 minutes)")
    parser.add_argument(
        "--only", default="", help=f"comma-separated benchmarks to run: {', '.join(names)}"
    )
    parser.add_argument("--no-write", action="store_true", help="do not write any report")
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        help=f"Markdown report path (default: {REPORT.relative_to(PROJECT_ROOT)} for a full run; "
        "a run with --only writes a report only to this path)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write raw numbers here")
    parser.add_argument("--no-profile", action="store_true", help="skip profiling missed goals")
    args = parser.parse_args(argv)
    only = tuple(n.strip() for n in args.only.split(",") if n.strip())
    unknown = [n for n in only if n not in names]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; expected {', '.join(names)}")
    report: Path | None = args.report
    if report is None and not only:
        report = REPORT
    return Options(
        quick=args.quick,
        only=only,
        report=None if args.no_write else report,
        json=args.json,
        profile=not args.no_profile,
    )


async def _profiles(results: Results, console: Console) -> None:
    targets: dict[str, ProfileTarget] = {}
    for goal in results.goals:
        if not goal.passed and goal.profile is not None:
            targets.setdefault(goal.profile.label, goal.profile)
    if not targets:
        return
    if pyinstrument() is None:
        results.profile_note = (
            "Goals were missed, but pyinstrument is not installed, so there are no profiles: "
            "`uv pip install --python .venv/bin/python pyinstrument` and run again."
        )
        return
    for label, target in targets.items():
        console.print(f"[dim]profiling: {label}[/dim]")
        summary = await profile(target)
        if summary is not None:
            results.profiles.append(summary)


async def run(options: Options, command: str) -> Results:
    """Create the databases, run the benchmarks, profile missed goals, report."""
    console = Console(width=None if sys.stdout.isatty() else 150)
    started = time.perf_counter()
    with bench_postgres() as (pg_url, pg_problem), sqlite_folder() as folder:
        postgres = server_version(pg_url) if pg_url else f"not measured ({pg_problem})"
        results = Results(
            command=command, quick=options.quick, machine=describe(postgres), started=now()
        )
        print_machine(console, results.machine)
        console.print()
        ctx = BenchContext(
            quick=options.quick,
            scale=QUICK if options.quick else FULL,
            pg_url=pg_url,
            pg_problem=pg_problem,
            sqlite_dir=folder,
        )
        for bench in registered():
            if options.only and bench.name not in options.only:
                continue
            console.print(f"[dim]running {bench.name}...[/dim]")
            section_started = time.perf_counter()
            section = await bench.fn(ctx)
            took = time.perf_counter() - section_started
            section.notes.append(f"Measured in {took:.0f} s.")
            results.sections.append(section)
            print_section(console, section)
        print_goals(console, results.goals)
        if options.profile:
            await _profiles(results, console)
        print_profiles(console, results.profiles, results.profile_note)
    results.seconds = time.perf_counter() - started
    results.load_end = load_average()
    results.speed_end = python_speed()
    console.print(f"[dim]load average at end: {results.load_end}; {results.speed_end}[/dim]")
    if options.report is not None:
        write_markdown(results, options.report)
        console.print(f"wrote {options.report}")
    elif options.only:
        console.print(
            f"[dim]partial run (--only): {REPORT.relative_to(PROJECT_ROOT)} left as it is; "
            "pass --report PATH to write this run's report[/dim]"
        )
    if options.json is not None:
        write_json(results, options.json)
        console.print(f"wrote {options.json}")
    console.print(f"[dim]total {results.seconds:.0f} s[/dim]")
    return results


def main(argv: list[str] | None = None) -> int:
    """`python -m bench`: returns the exit status (0 unless the run itself broke)."""
    args = sys.argv[1:] if argv is None else argv
    options = parse_args(args)
    command = " ".join(["python -m bench", *args])
    asyncio.run(run(options, command))
    return 0

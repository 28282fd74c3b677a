"""Where the time goes: profile a missed goal's workload with pyinstrument (when installed).

pyinstrument is optional (it is not a project dependency): without it the report says how to
get the profiles. Two summaries:

- a breakdown of the focus functions' callees (wall time, awaits included), e.g. "40% of
  `start_run` is compiling the graph"; wrapper frames (contextlib, asyncio) are looked through;
- with a baseline workload, a difference: time per operation spent in each module (all
  asyncio tasks, self time) by the workload minus by the baseline, biggest first, e.g. what
  the Waypoint graph spends that bare LangGraph does not.
"""

from __future__ import annotations

import importlib
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.goals import ProfileTarget, Workload

INTERVAL = 0.0005
"""Sampling interval (seconds)."""
MIN_SHARE = 0.03
"""Callees below this share of their parent are folded into `(other)`."""
TOP = 12
"""Lines in a difference."""
_TRANSPARENT = ("contextlib.py", "asyncio/", "functools.py")
_PROJECT = ("waypoint/", "nodes/", "graphs/", "state/", "bench/")


def pyinstrument() -> Any | None:
    """The pyinstrument module, or None when it is not installed."""
    try:
        return importlib.import_module("pyinstrument")
    except ImportError:
        return None


@dataclass
class Profile:
    """The summary of one profiled workload, as a small table."""

    label: str
    """What was profiled."""
    method: str
    """How to read the table."""
    columns: list[str]
    """Column names."""
    rows: list[list[str]] = field(default_factory=list)
    """The lines, in display order (indentation in the first cell shows nesting)."""


def _name(frame: Any) -> str:
    if frame.is_synthetic:
        return f"{frame.identifier.split(chr(0))[0]} (await / idle)"
    return f"{frame.function} ({frame.file_path_short}:{frame.line_no})"


def _transparent(frame: Any) -> bool:
    path = str(frame.file_path or "")
    return not frame.is_synthetic and any(part in path for part in _TRANSPARENT)


def _callees(frame: Any) -> Iterator[Any]:
    for child in frame.children:
        if _transparent(child) and child.children:
            yield from _callees(child)
        else:
            yield child


def _find(frame: Any, function: str) -> Iterator[Any]:
    """Outermost frames of `function` (a recursive call is counted once)."""
    if not frame.is_synthetic and frame.function == function:
        yield frame
        return
    for child in frame.children:
        yield from _find(child, function)


def _is_project(frame: Any) -> bool:
    path = str(frame.file_path or "")
    in_project = any(f"/{part}" in path or path.startswith(part) for part in _PROJECT)
    return in_project and ".venv" not in path and "site-packages" not in path


def _group(frames: list[Any]) -> list[tuple[str, float, list[Any]]]:
    """Callees of `frames`, grouped by name: (name, seconds, frames), biggest first."""
    groups: dict[str, tuple[float, list[Any]]] = {}
    for frame in frames:
        for callee in _callees(frame):
            seconds, members = groups.get(_name(callee), (0.0, []))
            groups[_name(callee)] = (seconds + callee.time, [*members, callee])
    return sorted(((n, s, m) for n, (s, m) in groups.items()), key=lambda g: -g[1])


def breakdown(root: Any, focus: tuple[str, ...], ops: int) -> list[list[str]]:
    """Callees of each focus function (two levels for project code): name, ms/op, share."""
    rows: list[list[str]] = []
    per_op = 1000 / max(ops, 1)

    def line(depth: int, name: str, seconds: float, total: float) -> list[str]:
        indent = "\u00a0\u00a0" * depth
        return [f"{indent}{name}", f"{seconds * per_op:.2f}", f"{seconds / total * 100:.0f}%"]

    for function in focus:
        frames = list(_find(root, function))
        total = sum(f.time for f in frames)
        if not frames or total <= 0:
            continue
        rows.append(line(0, function, total, total))
        groups = _group(frames)
        folded = total - sum(s for _, s, _ in groups)  # self time
        for name, seconds, members in groups:
            if seconds / total < MIN_SHARE:
                folded += seconds
                continue
            rows.append(line(1, name, seconds, total))
            if _is_project(members[0]):
                for sub_name, sub_seconds, _ in _group(members):
                    if sub_seconds / total >= MIN_SHARE:
                        rows.append(line(2, sub_name, sub_seconds, total))
        if folded > 0:
            rows.append(line(1, "(other)", folded, total))
    return rows


def _module(frame: Any) -> str:
    """The file a frame runs in, shortened to package/module (`<built-in>` for C calls)."""
    path = str(frame.file_path_short or frame.file_path or "<built-in>")
    return path if path else "<built-in>"


def self_times(root: Any) -> dict[str, float]:
    """Self time anywhere in the profile (seconds), by module (file).

    Modules, not functions: over a few hundred samples per workload, per-function differences
    are mostly sampling noise. pyinstrument keeps a frame's own time in synthetic children
    (`[self]`, `[await]`); they are credited to the frame that owns them. Built-in calls are
    credited to the module that made them.
    """
    totals: dict[str, float] = defaultdict(float)
    stack: list[tuple[Any, str]] = [(root, _module(root))]
    while stack:
        frame, caller = stack.pop()
        real = [c for c in frame.children if not c.is_synthetic]
        module = _module(frame)
        if module.startswith("<"):
            module = caller
        totals[module] += frame.time - sum(c.time for c in real)
        stack.extend((child, module) for child in real)
    return totals


def difference(
    target: dict[str, float], ops: int, baseline: dict[str, float], base_ops: int
) -> list[list[str]]:
    """Functions whose time per operation grew most from `baseline` to `target`."""
    per_t, per_b = 1000 / max(ops, 1), 1000 / max(base_ops, 1)
    names = set(target) | set(baseline)
    deltas = sorted(
        ((n, target.get(n, 0.0) * per_t, baseline.get(n, 0.0) * per_b) for n in names),
        key=lambda d: -(d[1] - d[2]),
    )
    total_t = sum(target.values()) * per_t
    total_b = sum(baseline.values()) * per_b
    rows = [["(all modules)", f"{total_t:.2f}", f"{total_b:.2f}", f"{total_t - total_b:+.2f}"]]
    rows += [[n, f"{t:.2f}", f"{b:.2f}", f"{t - b:+.2f}"] for n, t, b in deltas[:TOP]]
    return rows


async def _sample(workload: Workload, async_mode: str) -> tuple[Any, int, float]:
    module = pyinstrument()
    assert module is not None
    profiler = module.Profiler(interval=INTERVAL, async_mode=async_mode)
    async with workload() as run:
        start = time.perf_counter()
        profiler.start()
        try:
            ops = await run()
        finally:
            profiler.stop()
        wall = time.perf_counter() - start
    return profiler.last_session.root_frame(), ops, wall


async def profile(target: ProfileTarget) -> Profile | None:
    """Run `target` (and its baseline) under pyinstrument and summarise; None without it."""
    if pyinstrument() is None:
        return None
    if target.baseline is not None:
        # Whole-thread sampling, so node tasks and saver calls in other asyncio tasks count.
        base_root, base_ops, _ = await _sample(target.baseline, "disabled")
        root, ops, wall = await _sample(target.run, "disabled")
        result = Profile(
            label=target.label,
            method=f"pyinstrument, self time per operation by module, whole process (all "
            f"asyncio tasks; idle in the event loop included; C calls counted in the module "
            f"that made them), {ops} operations each; the modules that grew most from "
            f"{target.baseline_label} to the profiled workload. Sampling inflates CPU-bound "
            "code, so read the differences as shares, not as absolute milliseconds.",
            columns=["module", "ms/op", f"ms/op {target.baseline_label}", "difference"],
        )
        if root is not None and base_root is not None:
            result.rows = difference(self_times(root), ops, self_times(base_root), base_ops)
        return result
    root, ops, wall = await _sample(target.run, "enabled")
    result = Profile(
        label=target.label,
        method=f"pyinstrument, wall time (awaits included), {ops} operations in {wall:.2f} s; "
        f"callees below {MIN_SHARE:.0%} of their parent are folded into `(other)`.",
        columns=["function", "ms/op", "share"],
    )
    if root is not None:
        result.rows = breakdown(root, target.focus, ops)
    return result

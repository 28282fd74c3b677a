"""Benchmarks (not tests): ratios measured side by side in one run.

`python -m bench [--quick]` runs every benchmark registered with `@benchmark("name")` (see
`bench.registry`; the benchmarks live in `bench/suites/`, one module each), prints rich tables of
medians, spreads and ratios, checks the goals, profiles the missed ones, and writes
`docs/benchmarks.md`. Timings are never asserted anywhere.
"""

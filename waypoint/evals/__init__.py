"""Eval suites over recorded traces: record, score, replay, live, and the CI gate.

A trace is a LangSmith-shaped run tree written as JSONL (`trace_format`), recorded by a callback
tracer (`tracer`, `recording`) with every capability call keyed by a hash of its prompt
(`model_calls`). A suite (`suite`) lists cases with expectations; evaluators (`evaluators/`)
score each case's trace (`trace_view`); `session` runs a suite in score, replay or live mode and
`report` decides whether CI passes.
"""

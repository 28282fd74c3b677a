"""Nodes of the `research` workflow: plan, research tasks, synthesise, gate, review."""

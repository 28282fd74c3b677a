"""Evaluators: deterministic (openevals, agentevals), Waypoint's own checks, LLM-as-judge."""

"""Waypoint: the orchestration kit under the workflows in `graphs/`, `nodes/` and `state/`."""

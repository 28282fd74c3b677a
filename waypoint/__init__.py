"""Waypoint: the orchestration kit under the workflows in `graphs/`, `nodes/` and `state/`."""

import os as _os

if _os.environ.get("WAYPOINT_RECORD_DIR", "").lower() not in ("", "0", "false"):
    # Record every graph run of this process as a trace (see waypoint/evals/server_recording.py).
    import waypoint.evals.server_recording  # noqa: F401

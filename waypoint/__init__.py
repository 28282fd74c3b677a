"""Waypoint: the orchestration kit under the workflows in `graphs/`, `nodes/` and `state/`."""

import os as _os

# LangGraph reads this once, when it is first imported, for the serializers it builds itself
# (a server's; `python -m waypoint` and `waypoint` import this package before LangGraph). The
# savers Waypoint opens are strict whatever it says (`waypoint.persistence.at_rest`).
_os.environ.setdefault("LANGGRAPH_STRICT_MSGPACK", "true")

if _os.environ.get("WAYPOINT_RECORD_DIR", "").lower() not in ("", "0", "false"):
    # Record every graph run of this process as a trace (see waypoint/evals/server_recording.py).
    import waypoint.evals.server_recording  # noqa: F401

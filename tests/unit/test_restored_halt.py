"""A halt LangGraph hands back as text (a task error restored from a checkpoint) stays a halt.

Drift guard: LangGraph restores a failed task's error from its checkpoint writes as the
exception's `repr` when a run goes on from that checkpoint (what a kill's cancel-and-rerun
does); the ladder must still read a kill as a kill, never as the node's failure.
"""

from __future__ import annotations

from typing import Any, cast

from langgraph.errors import NodeError

from waypoint.guards import GuardHalt, Halt
from waypoint.ladder import DEFAULT_LADDER, ladder_handler, restored_halt


def _error(value: Any) -> NodeError:
    return NodeError(node="decide", error=cast(BaseException, value))


def test_a_guard_halt_restored_as_text_is_the_halt_it_was() -> None:
    text = repr(GuardHalt(Halt(kind="kill", reason="bench", node="decide")))
    assert text == "GuardHalt('kill: bench')"  # what LangGraph stores and hands back
    halt = restored_halt(_error(text))
    assert halt is not None and (halt.kind, halt.reason, halt.node) == ("kill", "bench", "decide")
    command = ladder_handler(DEFAULT_LADDER)({}, _error(text), {})
    assert command.update["halt"]["kind"] == "kill"


def test_other_text_is_not_a_halt() -> None:
    for text in ("ValueError('x')", "GuardHalt('nonsense: x')", "kill: bench"):
        assert restored_halt(_error(text)) is None
    command = ladder_handler(DEFAULT_LADDER)({}, _error("ValueError('x')"), {})
    assert command.update["halt"]["kind"] == "failure"

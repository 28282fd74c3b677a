"""`resolve_checkpoint`: a checkpoint named as `history` shows it, on a small tree of links.

The tree (newest first): a replay branched at step 1, so steps 2 and 3 exist on both lines.

    i(-1) ─ a(0) ─ b(1) ─ c(2) ─ d(3)            (old line)
                        └ e(2) ─ f(3)  ← head   (current line)
"""

from __future__ import annotations

import pytest

from waypoint.checkpoint_tables import CheckpointLink
from waypoint.errors import BadInput
from waypoint.timetravel import resolve_checkpoint

IDS = {
    "i": "1f0aaaaa-0000-6000-8000-00000000aa01",
    "a": "1f0aaaaa-0000-6000-8000-00000000bb02",
    "b": "1f0aaaaa-0000-6000-8000-00000000cc03",
    "c": "1f0aaaaa-0000-6000-8000-00000000dd04",
    "d": "1f0aaaaa-0000-6000-8000-00000000ee05",
    "e": "1f0aaaab-0000-6000-8000-00000000ff06",
    "f": "1f0aaaab-0000-6000-8000-0000000000a7",
}
PARENT = {"i": None, "a": "i", "b": "a", "c": "b", "d": "c", "e": "b", "f": "e"}
STEP = {"i": -1, "a": 0, "b": 1, "c": 2, "d": 3, "e": 2, "f": 3}
NEWEST_FIRST = ["f", "e", "d", "c", "b", "a", "i"]


def links(order: list[str] = NEWEST_FIRST) -> list[CheckpointLink]:
    return [
        CheckpointLink(
            IDS[n], IDS[p] if (p := PARENT[n]) else None, {"step": STEP[n], "source": "loop"}
        )
        for n in order
    ]


def resolve(name: str, order: list[str] = NEWEST_FIRST) -> str:
    return resolve_checkpoint(links(order), "T", name)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("-1", "i"),
        ("0", "a"),
        ("1", "b"),
        ("2", "e"),  # on both lines: the current one's
        ("3", "f"),
        (IDS["c"], "c"),  # an exact id, on any line
        ("1f0aaaab-0000-6000-8000-0000000000a", "f"),  # a unique prefix
        ("…dd04", "c"),  # a tail, as history shows a parent
        ("...ee05", "d"),
    ],
)
def test_names_resolve(name: str, expected: str) -> None:
    assert resolve(name) == IDS[expected]


def test_a_step_on_two_lines_neither_current_is_ambiguous() -> None:
    # the head back at `b` (newest first): both step-2 checkpoints are after it, on no line
    with pytest.raises(BadInput) as raised:
        resolve("2", ["b", "f", "e", "d", "c", "a", "i"])
    assert raised.value.field == "checkpoint"
    message = str(raised.value)
    assert "step 2 is ambiguous" in message and IDS["c"] in message and IDS["e"] in message


@pytest.mark.parametrize("name", ["1f0aaaa", "1f0aaaab"])
def test_a_shared_prefix_is_ambiguous(name: str) -> None:
    with pytest.raises(BadInput, match=r"^checkpoint: .* is ambiguous") as raised:
        resolve(name)
    assert raised.value.field == "checkpoint"


@pytest.mark.parametrize("name", ["4", "-2", "zz", "…zz", "…", "1f0aaaac"])
def test_an_unknown_name_is_refused(name: str) -> None:
    with pytest.raises(BadInput, match=r"^checkpoint: no checkpoint") as raised:
        resolve(name)
    assert raised.value.field == "checkpoint"

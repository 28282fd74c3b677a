"""Field-by-field difference between two plain-JSON states, with dotted paths.

Checkpoints hold plain JSON (see `waypoint.state_updates`), so two states are compared as nested
dicts and lists: dicts key by key (`lookup.customer.name`), lists index by index
(`verdicts[1].passed`). A value that appears where there was none (missing or `None`) is
`added`, one that disappears is `removed`, anything else that differs is `changed`. A dict or
list that appears or disappears as a whole is listed leaf by leaf, so every row is one field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

ChangeKind = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class FieldChange:
    """One difference between two states."""

    path: str
    """Dotted path of the field, e.g. `verdicts[1].passed`."""
    kind: ChangeKind
    """`added` (was missing or null), `removed` (now missing or null), or `changed`."""
    before: Any
    """The value in the first state (`None` when added)."""
    after: Any
    """The value in the second state (`None` when removed)."""

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready record (for `--json`)."""
        return {"path": self.path, "change": self.kind, "before": self.before, "after": self.after}


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _walk(path: str, before: Any, after: Any, out: list[FieldChange]) -> None:
    if before is None and after is None:
        return
    if before is None:
        out.extend(
            FieldChange(p, "added", None, v) for p, v in flatten(after, path) if v is not None
        )
    elif after is None:
        out.extend(
            FieldChange(p, "removed", v, None) for p, v in flatten(before, path) if v is not None
        )
    elif isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in [*before, *(k for k in after if k not in before)]:
            _walk(_join(path, str(key)), before.get(key), after.get(key), out)
    elif _is_list(before) and _is_list(after):
        for index in range(max(len(before), len(after))):
            _walk(
                f"{path}[{index}]",
                before[index] if index < len(before) else None,
                after[index] if index < len(after) else None,
                out,
            )
    elif before != after or type(before) is not type(after):
        out.append(FieldChange(path, "changed", before, after))


def diff_states(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[FieldChange]:
    """Every leaf that differs between `before` and `after`, in field order.

    Containers present on both sides are compared inside; one that appears or disappears is
    listed leaf by leaf (null leaves left out); a value whose kind changes (a dict that became a
    list or a string) is one `changed` entry holding both whole values.
    """
    changes: list[FieldChange] = []
    _walk("", before, after, changes)
    return changes


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """`(dotted path, leaf value)` pairs of a nested value; empty containers are leaves."""
    if isinstance(value, Mapping) and value:
        return [pair for k, v in value.items() for pair in flatten(v, _join(prefix, str(k)))]
    if _is_list(value) and value:
        return [pair for i, v in enumerate(value) for pair in flatten(v, f"{prefix}[{i}]")]
    return [(prefix, value)]

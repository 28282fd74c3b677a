"""Records whose JSON form is their fields, serialised by pydantic-core rather than by hand."""

from __future__ import annotations

from typing import Any, cast

from pydantic_core import to_jsonable_python


class JsonRecord:
    """A dataclass mix-in: `as_json()` is its fields, in order, as JSON-ready values.

    Nested dataclasses, pydantic models, `Decimal`s and datetimes are converted by
    `pydantic_core.to_jsonable_python`, so a record needs no hand-written `as_json`:

        @dataclass
        class Delivery(JsonRecord):
            delivered: list[str]

        Delivery(["e1"]).as_json()  # {"delivered": ["e1"]}
    """

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready record (for `--json` and API payloads)."""
        return cast(dict[str, Any], to_jsonable_python(self))

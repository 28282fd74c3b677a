"""Checks every value from outside passes before anything is written.

Bad input is refused whole, at once, as `BadInput` (exit 2) naming the field and what was
expected; nothing is written before these checks pass. What they guard against:

- text a database cannot hold: a NUL character (Postgres `text` and `jsonb` refuse it, SQLite
  keeps it, so a thread would work on one backend and crash half-written on the other) and
  unpaired surrogates (not Unicode text: neither database can encode them);
- JSON nested deeper than any workflow needs (deep nesting exhausts Python's recursion in
  parsing, validation, serialisation or the error message itself);
- identifiers (thread, checkpoint, graph and node names) that are blank, huge, or carry control
  characters;
- counts and numbers outside what the databases and Python's dates can represent;
- output files whose folder does not exist, or that name a folder;
- error messages that would echo a huge value whole: `shown` cuts what is repeated.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from waypoint.errors import BadInput

MAX_SHOWN = 200
"""Characters of a bad value an error message repeats; the rest is cut, with its length noted."""

MAX_JSON_DEPTH = 32
"""Deepest nesting of objects and lists accepted in JSON input (the workflows need about 4)."""

MAX_ID_LENGTH = 128
"""Longest thread, checkpoint, graph or node name accepted."""

MAX_COUNT = 1_000_000
"""Largest `--limit` / `--keep-last` accepted (SQL integers hold 2**63 - 1; nobody needs it)."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_BAD_ID_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}
"""Control, format, surrogate, private-use and line/paragraph-separator characters."""


def shown(value: Any, limit: int = MAX_SHOWN) -> str:
    """`value` as an error message repeats it: JSON, cut to `limit` characters.

    A longer value is cut and its full length noted, so a 10 MB message gives a short error.
    """
    if isinstance(value, str):
        text = json.dumps(value[:limit])
        return text if len(value) <= limit else f"{text}… ({len(value):,} characters)"
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def text_problem(text: str) -> str | None:
    """Why a database cannot store `text`, or None if it can."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which the database cannot store; remove it"
    surrogate = _SURROGATE.search(text)
    if surrogate is not None:
        return (
            f"contains an unpaired surrogate (\\u{ord(surrogate.group()):04x}), which is not "
            "valid Unicode text; send UTF-8 text"
        )
    return None


def check_text(text: str, field: str) -> str:
    """Refuse text a database cannot hold; return it unchanged.

    Raises:
        BadInput: naming `field`.
    """
    problem = text_problem(text)
    if problem is not None:
        raise BadInput(f"{field}: {problem}", field=field)
    return text


def check_json_value(value: Any, field: str) -> None:
    """Check every key and string inside `value`, and how deep it nests.

    Walks dicts, lists and tuples without recursion; other values are left alone (the schema
    judges them).

    Raises:
        BadInput: the first string a database cannot hold (named by its path, e.g.
            `input.message`), or nesting deeper than `MAX_JSON_DEPTH`.
    """
    stack: list[tuple[Any, str, int]] = [(value, field, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            check_text(item, path)
            continue
        if not isinstance(item, Mapping | list | tuple):
            continue
        if depth >= MAX_JSON_DEPTH:
            raise BadInput(
                f"{field}: nested deeper than {MAX_JSON_DEPTH} levels (at {shown(path, 80)}); "
                "send a flatter value",
                field=field,
            )
        if isinstance(item, Mapping):
            children: list[tuple[Any, str, int]] = []
            for key, child in item.items():
                name = str(key)
                child_path = f"{path}.{name[:MAX_SHOWN]}"
                problem = text_problem(name)
                if problem is not None:
                    raise BadInput(f"{path}: a key {problem}", field=path)
                children.append((child, child_path, depth + 1))
            stack.extend(reversed(children))
        else:
            stack.extend(
                (child, f"{path}[{index}]", depth + 1)
                for index, child in reversed(list(enumerate(item)))
            )


def check_id(value: Any, field: str, *, what: str = "id") -> str:
    """Check a thread, checkpoint, graph or node name; return it unchanged.

    Accepted: 1 to `MAX_ID_LENGTH` characters, no control, format or separator characters, not
    blank, no spaces at either end.

    Raises:
        BadInput: naming `field` and what was expected.
    """
    if not isinstance(value, str):
        raise BadInput(f"{field}: expected a text {what}, got {type(value).__name__}", field=field)
    if not value.strip():
        raise BadInput(f"{field}: expected a non-empty {what}", field=field)
    if len(value) > MAX_ID_LENGTH:
        raise BadInput(
            f"{field}: expected at most {MAX_ID_LENGTH} characters for the {what}, got "
            f"{len(value):,} ({shown(value, 40)})",
            field=field,
        )
    for char in value:
        if unicodedata.category(char) in _BAD_ID_CATEGORIES:
            raise BadInput(
                f"{field}: the {what} {shown(value, 60)} contains the control character "
                f"U+{ord(char):04X}; use letters, digits and punctuation",
                field=field,
            )
    if value != value.strip():
        raise BadInput(
            f"{field}: the {what} {shown(value, 60)} starts or ends with a space; remove it",
            field=field,
        )
    return value


def check_thread_id(thread_id: Any) -> str:
    """`check_id` for a thread id (field `thread`)."""
    return check_id(thread_id, "thread", what="thread id")


def check_count(value: int, field: str, *, maximum: int = MAX_COUNT) -> int:
    """Refuse a count outside 1..`maximum`; return it unchanged.

    Raises:
        BadInput: naming `field` and the range.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInput(f"{field}: expected a whole number", field=field)
    if not 1 <= value <= maximum:
        raise BadInput(
            f"{field}: expected a whole number from 1 to {maximum:,}, got {shown(value, 40)}",
            field=field,
        )
    return value


def check_output_file(path: Path, field: str) -> Path:
    """Refuse an output path that cannot be written, before any work is done.

    The folder must exist already (it is not created), the path must not name a folder or a
    special file, and the folder must be writable.

    Raises:
        BadInput: naming `field`, the path and what to do.
    """
    try:
        check_text(str(path), field)
        if path.is_dir():
            raise BadInput(
                f"{field}: {shown(str(path))} is a folder; give a file path such as "
                f"{shown(str(path / 'trace.jsonl'))}",
                field=field,
            )
        if path.exists() and not path.is_file():
            raise BadInput(
                f"{field}: {shown(str(path))} exists and is not a regular file; give a file path",
                field=field,
            )
        folder = path.parent
        if not folder.is_dir():
            raise BadInput(
                f"{field}: the folder {shown(str(folder))} does not exist; create it first or "
                "write elsewhere",
                field=field,
            )
        if not os.access(folder, os.W_OK | os.X_OK):
            raise BadInput(
                f"{field}: cannot write in the folder {shown(str(folder))}; write elsewhere",
                field=field,
            )
    except OSError as exc:
        raise BadInput(
            f"{field}: cannot use {shown(str(path))}: {exc.strerror}", field=field
        ) from exc
    return path

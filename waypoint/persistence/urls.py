"""Parse the one database URL that decides every store (`--db` or `WAYPOINT_DB_URL`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from waypoint.errors import BadInput

DEFAULT_DB_URL = "sqlite:///.waypoint/waypoint.sqlite"
"""Embedded default: an SQLite file under `.waypoint/` in the working directory."""


@dataclass(frozen=True)
class DatabaseURL:
    """A validated database URL."""

    kind: Literal["sqlite", "postgres"]
    url: str
    sqlite_path: Path | None = None

    @property
    def redacted(self) -> str:
        """The URL without its password, safe to print."""
        if self.kind == "sqlite":
            return self.url
        parts = urlsplit(self.url)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            return parts._replace(netloc=netloc).geturl()
        return self.url


def parse_db_url(url: str | None = None) -> DatabaseURL:
    """Resolve `url`, else `WAYPOINT_DB_URL`, else the SQLite default.

    Raises:
        BadInput: the URL is neither `sqlite:///path` nor `postgresql://...`.
    """
    raw = url or os.environ.get("WAYPOINT_DB_URL") or DEFAULT_DB_URL
    if raw.startswith("sqlite:///"):
        path = Path(raw.removeprefix("sqlite:///"))
        if not path.name:
            raise BadInput("db: expected sqlite:///path/to/file.sqlite", field="db")
        return DatabaseURL(kind="sqlite", url=raw, sqlite_path=path)
    if raw.startswith(("postgresql://", "postgres://")):
        return DatabaseURL(kind="postgres", url=raw)
    raise BadInput(
        f"db: expected sqlite:///PATH or postgresql://USER@HOST:PORT/DB, got {raw!r}", field="db"
    )

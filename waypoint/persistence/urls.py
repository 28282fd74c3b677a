"""Parse the one database URL that decides every store (`--db` or `WAYPOINT_DB_URL`)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from waypoint.errors import BadInput
from waypoint.input_checks import MAX_SHOWN, check_text, shown

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


SQLITE_HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file."""


def parse_db_url(url: str | None = None) -> DatabaseURL:
    """Resolve `url`, else `WAYPOINT_DB_URL`, else the SQLite default.

    A Postgres URL is parsed by libpq's own parser (through psycopg), so a malformed one is
    refused at once instead of failing to connect.

    Raises:
        BadInput: the URL is neither `sqlite:///path` nor a valid `postgresql://...`.
    """
    raw = url or os.environ.get("WAYPOINT_DB_URL") or DEFAULT_DB_URL
    check_text(raw, "db")
    if raw.startswith("sqlite:///"):
        path = Path(raw.removeprefix("sqlite:///"))
        if not path.name:
            raise BadInput("db: expected sqlite:///path/to/file.sqlite", field="db")
        return DatabaseURL(kind="sqlite", url=raw, sqlite_path=path)
    if raw.startswith(("postgresql://", "postgres://")):
        try:
            conninfo_to_dict(raw)
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split())[:MAX_SHOWN]
            raise BadInput(
                f"db: not a valid Postgres URL ({reason}); expected "
                "postgresql://USER[:PASSWORD]@HOST[:PORT]/DB with special characters "
                "percent-encoded",
                field="db",
            ) from exc
        return DatabaseURL(kind="postgres", url=raw)
    raise BadInput(
        f"db: expected sqlite:///PATH or postgresql://USER@HOST:PORT/DB, got {shown(raw)}",
        field="db",
    )


def check_sqlite_location(path: Path) -> None:
    """Refuse an SQLite path that cannot hold Waypoint's database, before anything is created.

    The path must be an SQLite file, an empty file, or a new file whose nearest existing folder
    can be written (missing folders are then created).

    Raises:
        BadInput: a folder, a special file, a file that is not an SQLite database, or a place
            where the file cannot be created.
    """
    where = shown(str(path))
    try:
        if path.is_dir():
            raise BadInput(
                f"db: {where} is a folder; expected an SQLite file such as "
                f"{shown(str(path / 'waypoint.sqlite'))}",
                field="db",
            )
        if path.exists():
            if not path.is_file():
                raise BadInput(f"db: {where} is not a regular file", field="db")
            with path.open("rb") as handle:
                head = handle.read(len(SQLITE_HEADER))
            if head and head != SQLITE_HEADER:
                raise BadInput(
                    f"db: {where} is not an SQLite database; point --db at an SQLite file or "
                    "at a new path",
                    field="db",
                )
            return
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            raise BadInput(
                f"db: cannot create {where}: {shown(str(folder))} is not a folder", field="db"
            )
        # Probe by creating and removing a file: permissions alone do not tell (root, procfs,
        # read-only mounts). Nothing is left behind.
        try:
            probe, probe_path = tempfile.mkstemp(prefix=".waypoint-probe-", dir=folder)
        except OSError as exc:
            raise BadInput(
                f"db: cannot create {where}: cannot write in {shown(str(folder))} "
                f"({exc.strerror or exc})",
                field="db",
            ) from exc
        os.close(probe)
        os.unlink(probe_path)
    except OSError as exc:
        raise BadInput(f"db: cannot use {where}: {exc.strerror or exc}", field="db") from exc

"""Files and folders only their owner can read: the SQLite database, trace files.

Modes are given when a file or folder is created (`os.open(..., 0o600)`, `mkdir(mode=0o700)`),
so there is no moment in which another user could open it; a umask can only take bits away.
SQLite creates the database's `-wal` and `-shm` files with the database file's own permissions,
so a database created here keeps its journal private too. Existing files and folders are left
as they are: their modes are their owner's choice.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> None:
    """Create the folder `path` if it does not exist, and its missing parents, each 0700."""
    missing: list[Path] = []
    while not path.is_dir():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)


def private_file(path: Path) -> None:
    """Create `path` empty, 0600, in a private folder, unless it exists (then it is left alone)."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def open_private_append(path: Path) -> int:
    """A descriptor appending to `path`, created 0600 (with a private folder) if it is new."""
    private_dir(path.parent)
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)

"""The offline corpus: docstrings of the installed Python's standard library, in SQLite FTS5.

`MODULES` is a fixed list, so the corpus is deterministic for one Python version and quick to
build (well under a second). Each passage is one documented name: a module, or a public
function or class of it (with its public methods), its id the dotted name (`json.dumps`), its
text `inspect.getdoc` of it. The index is built once, at first use, into
`.waypoint/research-corpus/<python>-<hash>.sqlite` under the working directory
(`WAYPOINT_RESEARCH_CORPUS_DIR` names another folder): written to a private temporary file
(0600, in a 0700 folder) and renamed into place, so concurrent first uses are safe. Nothing is
downloaded and no network is used.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import os
import re
import sqlite3
import sys
import tempfile
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

MODULES: tuple[str, ...] = (
    "argparse",
    "base64",
    "bisect",
    "collections",
    "contextlib",
    "copy",
    "csv",
    "dataclasses",
    "datetime",
    "enum",
    "fnmatch",
    "functools",
    "glob",
    "gzip",
    "hashlib",
    "heapq",
    "itertools",
    "json",
    "logging",
    "math",
    "operator",
    "os.path",
    "pathlib",
    "pickle",
    "random",
    "re",
    "shutil",
    "sqlite3",
    "statistics",
    "string",
    "subprocess",
    "tempfile",
    "textwrap",
    "time",
    "uuid",
    "zipfile",
)
"""The standard-library modules indexed (their docstrings and their public names')."""

MAX_PASSAGE_CHARS = 800
"""A passage's text is its docstring, cut at this many characters."""

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Passage:
    """One documented name of the standard library."""

    id: str
    module: str
    title: str
    text: str


def _signature(obj: object) -> str:
    try:
        return str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""


def _public(module: object) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in dir(module) if not n.startswith("_")]
    return sorted(str(n) for n in names)


def _passage(pid: str, module: str, obj: object) -> Passage | None:
    doc = inspect.getdoc(obj)
    if not doc or len(doc) < 20:
        return None
    kind = "class" if inspect.isclass(obj) else "module" if inspect.ismodule(obj) else "function"
    title = f"{pid}{_signature(obj) if kind == 'function' else ''} ({kind})"
    return Passage(id=pid, module=module, title=title[:300], text=doc[:MAX_PASSAGE_CHARS])


def collect() -> list[Passage]:
    """Every passage of `MODULES`, in a fixed order (no duplicates)."""
    found: dict[str, Passage] = {}
    for name in MODULES:
        module = importlib.import_module(name)
        candidates: list[tuple[str, object]] = [(name, module)]
        for attr in _public(module):
            obj = getattr(module, attr, None)
            if obj is None or inspect.ismodule(obj):
                continue
            owner = getattr(obj, "__module__", None)
            if inspect.isclass(obj) or callable(obj):
                homes = (name.split(".")[0], "_" + name, "posixpath")
                if owner and owner.split(".")[0] not in homes:
                    continue  # re-exported from elsewhere
                candidates.append((f"{name}.{attr}", obj))
                if inspect.isclass(obj):
                    for method in sorted(vars(obj)):
                        if not method.startswith("_") and callable(getattr(obj, method, None)):
                            candidates.append((f"{name}.{attr}.{method}", getattr(obj, method)))
        for pid, obj in candidates:
            passage = _passage(pid, name, obj)
            if passage is not None and pid not in found:
                found[pid] = passage
    return [found[key] for key in sorted(found)]


def corpus_key() -> str:
    """Python version and a hash of the module list and passage size: a new key, a new index."""
    digest = hashlib.sha256(f"{MAX_PASSAGE_CHARS}\n{chr(10).join(MODULES)}".encode()).hexdigest()[
        :10
    ]
    return f"py{sys.version_info.major}{sys.version_info.minor}-{digest}"


def corpus_dir() -> Path:
    """Where the index lives: `WAYPOINT_RESEARCH_CORPUS_DIR`, else `.waypoint/research-corpus`."""
    return Path(os.environ.get("WAYPOINT_RESEARCH_CORPUS_DIR", ".waypoint/research-corpus"))


def _private_dir(path: Path) -> None:
    missing: list[Path] = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)


def build_index(path: Path) -> None:
    """Write the FTS5 index of `collect()` to `path` (atomically, private)."""
    _private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=".corpus-", suffix=".sqlite", dir=path.parent)  # 0600
    os.close(fd)
    try:
        with sqlite3.connect(tmp) as db:
            db.execute(
                "CREATE VIRTUAL TABLE passages USING fts5("
                "id UNINDEXED, module UNINDEXED, title, text, tokenize='porter unicode61')"
            )
            db.executemany(
                "INSERT INTO passages (id, module, title, text) VALUES (?, ?, ?, ?)",
                [(p.id, p.module, p.title, p.text) for p in collect()],
            )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


_lock = threading.Lock()


@cache
def _index_path(directory: Path) -> Path:
    path = directory / f"{corpus_key()}.sqlite"
    with _lock:
        if not path.exists():
            build_index(path)
    return path


def index_path() -> Path:
    """The index file, built on first use."""
    return _index_path(corpus_dir().resolve())


def _connect() -> sqlite3.Connection:
    db = sqlite3.connect(f"file:{index_path()}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    return db


def terms(text: str) -> list[str]:
    """The words of a query, as FTS5 terms (identifiers split on dots and underscores)."""
    words: list[str] = []
    for word in _WORD.findall(text.replace(".", " ")):
        for part in word.lower().split("_"):
            if len(part) > 1 and part not in _STOP and part not in words:
                words.append(part)
    return words


_STOP = frozenset(
    word
    for line in (
        "a an and are as at be by can do does did for from how in is it its of on or the this",
        "to what when which why with about between differ difference document documented",
        "errors caveats used use standard library python module",
    )
    for word in line.split()
)


_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def named_in(text: str) -> list[str]:
    """Passage ids named verbatim in `text` (`json.dumps`, `pathlib`), in order of mention."""
    known = known_names()
    found: list[str] = []
    for name in _DOTTED.findall(text):
        if name in known and name not in found:
            found.append(name)
    return found


def _named_first(query: str, ranked: list[Passage], k: int) -> list[Passage]:
    exact = [p for p in (read(pid) for pid in named_in(query)) if p is not None]
    seen = {p.id for p in exact}
    return [*exact, *(p for p in ranked if p.id not in seen)][:k]


def search_bm25(query: str, k: int) -> list[Passage]:
    """FTS5 BM25 search: names given verbatim first, then passages matching any term."""
    words = terms(query)
    if not words:
        return []
    match = " OR ".join(f'"{w}"' for w in words)
    with _connect() as db:
        rows = db.execute(
            "SELECT id, module, title, text FROM passages WHERE passages MATCH ? "
            "ORDER BY bm25(passages, 0.0, 0.0, 4.0, 1.0), id LIMIT ?",
            (match, k),
        ).fetchall()
    ranked = [Passage(r["id"], r["module"], r["title"], r["text"]) for r in rows]
    return _named_first(query, ranked, k)


def search_scan(query: str, k: int) -> list[Passage]:
    """Keyword scan without the FTS index: term hits in the id and title count most."""
    words = terms(query)
    if not words:
        return []
    with _connect() as db:
        rows = db.execute("SELECT id, module, title, text FROM passages").fetchall()
    scored: list[tuple[float, str, Passage]] = []
    for r in rows:
        ident, text = r["id"].lower(), r["text"].lower()
        score = sum(5.0 * (w in ident) + min(text.count(w), 5) for w in words)
        if score > 0:
            scored.append((-score, r["id"], Passage(r["id"], r["module"], r["title"], r["text"])))
    return _named_first(query, [p for _, _, p in sorted(scored)[:k]], k)


def read(passage_id: str) -> Passage | None:
    """The passage with this id, or None."""
    with _connect() as db:
        row = db.execute(
            "SELECT id, module, title, text FROM passages WHERE id = ?", (passage_id,)
        ).fetchone()
    return None if row is None else Passage(row["id"], row["module"], row["title"], row["text"])


@cache
def _names(path: Path) -> frozenset[str]:
    with _connect() as db:
        return frozenset(str(r[0]) for r in db.execute("SELECT id FROM passages"))


def known_names() -> frozenset[str]:
    """Every passage id (the planner looks for them in a question)."""
    return _names(index_path())

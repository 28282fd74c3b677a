"""Roles beyond ownership: who may answer the questions of threads they did not start.

A thread belongs to the user who started it; everyone else gets 404 for it. A `reviewer` of a
workflow may also list and answer the pending questions (interrupts) of that workflow's
threads, and nothing more: no new input, no state edits, no deletes. Roles are configuration,
read at each call so they change without a restart, never taken from a request:

- `WAYPOINT_ROLES`: comma-separated `USER=ROLE:GRAPH+GRAPH` entries, e.g.
  `carol=reviewer:support,dave=reviewer:*` (`*`: every workflow), and/or
- `WAYPOINT_ROLES_FILE`: a file with one such entry per line (`#` comments allowed).

The servers (`waypoint.server.auth`) and the command line (`waypoint resume --as USER`) check
the same configuration. Standard library only: the servers' auth file imports it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

ROLES_ENV = "WAYPOINT_ROLES"
"""Environment variable with `USER=ROLE:GRAPH+GRAPH` entries."""

ROLES_FILE_ENV = "WAYPOINT_ROLES_FILE"
"""Environment variable naming a file with one `USER=ROLE:GRAPH+GRAPH` entry per line."""

ROLES = ("reviewer",)
"""The roles a configuration may grant (ownership is not granted: starting a thread gives it)."""

EVERY_GRAPH = "*"

_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,128}$")


class RoleConfigError(ValueError):
    """The configured roles cannot be used; the message names the entry and what is wrong."""


def parse_roles(text: str, *, source: str) -> dict[str, frozenset[str]]:
    """Reviewers and the workflows each reviews, from `USER=reviewer:GRAPH+GRAPH` entries.

    Raises:
        RoleConfigError: an entry is malformed, names an unknown role or a bad name.
    """
    reviewers: dict[str, frozenset[str]] = {}
    for number, raw in enumerate(re.split(r"[,\n]", text), start=1):
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        user, eq, grant = (part.strip() for part in entry.partition("="))
        role, colon, graphs_text = (part.strip() for part in grant.partition(":"))
        if not eq or not colon or not user:
            raise RoleConfigError(f"{source} entry {number}: expected USER=ROLE:GRAPH+GRAPH")
        if not _NAME.match(user):
            raise RoleConfigError(
                f"{source} entry {number}: user must be 1-128 of A-Z a-z 0-9 _ . @ -"
            )
        if role not in ROLES:
            raise RoleConfigError(
                f"{source} entry {number}: role {role[:40]!r} unknown; expected one of "
                f"{', '.join(ROLES)}"
            )
        graphs = frozenset(g.strip() for g in graphs_text.split("+") if g.strip())
        if not graphs or not all(g == EVERY_GRAPH or _NAME.match(g) for g in graphs):
            raise RoleConfigError(
                f"{source} entry {number}: expected workflow names joined by '+', or '*'"
            )
        reviewers[user] = reviewers.get(user, frozenset()) | graphs
    return reviewers


def configured_reviewers(environ: Mapping[str, str] | None = None) -> dict[str, frozenset[str]]:
    """Every reviewer from `WAYPOINT_ROLES` and `WAYPOINT_ROLES_FILE`, with their workflows.

    Raises:
        RoleConfigError: the configuration is malformed or the file cannot be read.
    """
    env = os.environ if environ is None else environ
    reviewers = parse_roles(env.get(ROLES_ENV, ""), source=ROLES_ENV)
    if path := env.get(ROLES_FILE_ENV, "").strip():
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise RoleConfigError(
                f"{ROLES_FILE_ENV}={path}: cannot read it ({exc.strerror})"
            ) from exc
        for user, graphs in parse_roles(text, source=ROLES_FILE_ENV).items():
            reviewers[user] = reviewers.get(user, frozenset()) | graphs
    return reviewers


def reviewed_graphs(user: str, environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The workflows `user` reviews (`*` for every one); empty for everyone else."""
    return configured_reviewers(environ).get(user, frozenset())


def may_review(user: str, graph: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether `user` may answer the questions of `graph`'s threads without owning them."""
    graphs = reviewed_graphs(user, environ)
    return EVERY_GRAPH in graphs or graph in graphs

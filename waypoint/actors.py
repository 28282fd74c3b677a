"""Who is acting: the authenticated user, never a value the caller sends.

Under a LangGraph server it is the user the server authenticated (`langgraph_auth_user` in the
run's config, which the server sets itself). Under the command line or Python it is the actor
the runner set for the run (`WAYPOINT_ACTOR`, else the OS user). Nothing in a request's
`configurable` can choose it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from langchain_core.runnables import RunnableConfig

_runner_actor: ContextVar[str | None] = ContextVar("waypoint_runner_actor", default=None)
_runner_role: ContextVar[str | None] = ContextVar("waypoint_runner_role", default=None)

ROLE_KEY = "waypoint_role"
"""Run metadata key under which a server records the role a caller answered under."""


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """The runner's actor for the runs started in this block."""
    token = _runner_actor.set(actor)
    try:
        yield
    finally:
        _runner_actor.reset(token)


def runner_actor() -> str | None:
    """The runner's actor, inside a run the runner started (None elsewhere)."""
    return _runner_actor.get()


def authenticated_user(config: RunnableConfig | None) -> str | None:
    """The identity of the user a LangGraph server authenticated for this run, if any."""
    user: Any = ((config or {}).get("configurable") or {}).get("langgraph_auth_user")
    identity = getattr(user, "identity", None)
    if identity is None and isinstance(user, dict):
        identity = user.get("identity")
    return str(identity) if identity else None


def acting_user(config: RunnableConfig | None) -> str | None:
    """Who acts in this run: the server's authenticated user, else the runner's actor."""
    return authenticated_user(config) or _runner_actor.get()


@contextmanager
def answering_as(role: str) -> Iterator[None]:
    """The role (`owner`, `reviewer`) the runner's actor answers under in this block."""
    token = _runner_role.set(role)
    try:
        yield
    finally:
        _runner_role.reset(token)


def acting_role(config: RunnableConfig | None) -> str:
    """Under which role this run's answer is given.

    On a server: `reviewer` when the auth let a reviewer answer (`ROLE_KEY` in the run's
    metadata, set by the server's auth, not the caller), else `owner` (the server lets no one
    else in). On the command line: the role `resume --as USER` was checked for, else
    `operator` (whoever holds the database).
    """
    metadata = (config or {}).get("metadata") or {}
    if authenticated_user(config) is not None:
        return "reviewer" if metadata.get(ROLE_KEY) == "reviewer" else "owner"
    return _runner_role.get() or "operator"

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

from waypoint.server.service import SERVICE_ACTOR_FIELD, SERVICE_ROLE_FIELD

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


ROLES_OF_RUNS = ("reviewer", "escalation", "deadline")
"""Roles a server's auth may record on a run (`ROLE_KEY`) besides `owner`."""


def _user_field(user: Any, name: str) -> Any:
    value = user.get(name) if isinstance(user, dict) else None
    if value is None and user is not None and not isinstance(user, dict):
        try:
            value = getattr(user, name, None)
        except Exception:  # a proxy that raises something else for a missing field
            value = None
    return value


def service_of(config: RunnableConfig | None) -> str | None:
    """Who acts through the server's service credential in this run, if anyone.

    The sweeper, or a reviewer the served app checked (`waypoint.server.service`); set only by
    `waypoint.server.auth` for the service token: the server sees the thread's owner (it scopes
    threads to their owner), the ledger and the answer see who acted.
    """
    user: Any = ((config or {}).get("configurable") or {}).get("langgraph_auth_user")
    acting = None if user is None else _user_field(user, SERVICE_ACTOR_FIELD)
    return acting if isinstance(acting, str) and acting else None


def authenticated_user(config: RunnableConfig | None) -> str | None:
    """Who a LangGraph server authenticated for this run, if anyone.

    The user's identity; for the server's service credential acting for a thread's owner,
    who acts (`service_of`: the sweeper, or a reviewer).
    """
    user: Any = ((config or {}).get("configurable") or {}).get("langgraph_auth_user")
    if user is None:
        return None
    if (service := service_of(config)) is not None:
        return service
    identity = _user_field(user, "identity")
    return str(identity) if identity else None


def acting_user(config: RunnableConfig | None) -> str | None:
    """Who acts in this run: the server's authenticated user, else the runner's actor."""
    return authenticated_user(config) or _runner_actor.get()


USERS_NAMESPACE = "users"
"""First label of every LangGraph Store namespace that belongs to one user."""


def user_namespace(user: str, *labels: str) -> tuple[str, ...]:
    """The Store namespace `("users", user, *labels)`: where a user's own items live.

    The one layout both servers agree on. Aegra files every Store API request under
    `("users", <caller>, ...)` (a namespace that already starts so is kept as it is), and
    Waypoint's auth lets a caller of either server name only namespaces under
    `("users", <caller>)` (`waypoint.server.auth`). A node that keeps a user's data in the
    run's Store (`runtime.store`, which no server prefixes) writes it here, so the user can
    read it back through the Store API on `langgraph dev` and on Aegra alike:

        await store.aput(user_namespace(acting_user(config) or "anonymous", "notes"), key, value)
    """
    return (USERS_NAMESPACE, user, *labels)


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

    On a server: `reviewer` when the auth let a reviewer answer, `escalation` when the served
    app let the user a question was escalated to answer it, `deadline` when the server's
    sweeper applied a deadline's default (`ROLE_KEY` in the run's metadata, set by the
    server's auth, not the caller), else `owner` (the server lets no one else in). On the
    command line: the role `resume --as USER` was checked for, `deadline` for `waypoint
    sweep`, else `operator` (whoever holds the database).
    """
    metadata = (config or {}).get("metadata") or {}
    if service_of(config) is not None:  # the sweeper, or a reviewer through the served app
        user: Any = ((config or {}).get("configurable") or {}).get("langgraph_auth_user")
        role = _user_field(user, SERVICE_ROLE_FIELD)
        return str(role) if role in ROLES_OF_RUNS else "deadline"
    if authenticated_user(config) is not None:
        role = metadata.get(ROLE_KEY)
        return str(role) if role in ROLES_OF_RUNS else "owner"
    return _runner_role.get() or "operator"


def runner_role() -> str | None:
    """The role `answering_as` set for the runner's actor, if any."""
    return _runner_role.get()

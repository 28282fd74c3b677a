"""The server's own service credential: its background workers call its API like any client.

A worker that must act on a thread (the sweeper applying a deadline's default answer,
`waypoint.server.workers`) does not run the graph beside the server: it asks the server's own
API over loopback, so the run goes through the server's run queue, its auth checks and its
served-run recorder like a person's answer. It authenticates with a token that exists only in
the server's process (`service_token()`: random, made at first use, never written anywhere),
or, where a deployment runs several processes behind one address, `WAYPOINT_SERVICE_TOKEN`
(at least 32 characters, the same in every process).

A service request names the thread's owner (`ON_BEHALF_HEADER`): the server scopes threads
to their owner (Aegra does so in its own queries, see `waypoint.server.auth`), so the request
is authenticated as that owner, with `SERVICE_ACTOR_FIELD` naming who acts; the ledger, the
handoffs and the answer record that actor, never the owner. The auth lets a service request
read the thread and answer its pending question, nothing else. Who acts is the sweeper (role
`deadline`), or, with `ACTING_HEADER`, a user the served app's own route has checked: a
reviewer of the workflow (`waypoint.roles`: role `reviewer`) or the user a question was
escalated to (role `escalation`, `ACTING_ROLE_HEADER`). That is how they answer on Aegra, whose
thread queries no auth handler can widen.

Standard library only: the servers' auth file imports it.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading

SERVICE_TOKEN_ENV = "WAYPOINT_SERVICE_TOKEN"
"""Environment variable: the service token shared by every process of one deployment."""

ON_BEHALF_HEADER = "x-waypoint-on-behalf-of"
"""Header of a service request: the owner of the thread it acts on."""

SERVICE_ACTOR_FIELD = "waypoint_actor"
"""Field of the authenticated user naming the service (`waypoint.actors` reads it)."""

SERVICE_ROLE_FIELD = "waypoint_role"
"""Field of the authenticated user: the role the service's actor answers under."""

ACTING_HEADER = "x-waypoint-acting-user"
"""Header of a service request: the reviewer the served app lets answer (else the sweeper)."""

ACTING_ROLE_HEADER = "x-waypoint-acting-role"
"""Header of a service request with `ACTING_HEADER`: the role the served app checked."""

ACTING_ROLES = ("reviewer", "escalation")
"""Roles the served app lets a user answer under on another user's thread: a reviewer of its
workflow, or the user a question past its deadline was escalated to."""

SWEEPER = "sweeper"
"""The service that applies deadlines' default answers (the actor the ledger records)."""

MIN_SERVICE_TOKEN_LENGTH = 32

_lock = threading.Lock()
_process_token: list[str] = []


class ServiceConfigError(ValueError):
    """`WAYPOINT_SERVICE_TOKEN` is set but cannot be used."""


def service_token() -> str:
    """The token the server's own workers present (configured, else this process's own).

    Raises:
        ServiceConfigError: `WAYPOINT_SERVICE_TOKEN` is shorter than 32 characters.
    """
    configured = os.environ.get(SERVICE_TOKEN_ENV, "").strip()
    if configured:
        if len(configured) < MIN_SERVICE_TOKEN_LENGTH:
            raise ServiceConfigError(
                f"{SERVICE_TOKEN_ENV}: shorter than {MIN_SERVICE_TOKEN_LENGTH} characters"
            )
        return configured
    with _lock:
        if not _process_token:
            _process_token.append(secrets.token_urlsafe(32))
        return _process_token[0]


def is_service_token(presented: str) -> bool:
    """Whether `presented` is the service token (constant-time)."""
    try:
        expected = service_token()
    except ServiceConfigError:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())

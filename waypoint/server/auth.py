"""Who may call the served graphs, and whose threads they may touch (`auth.path` in langgraph.json).

Both servers load this file: `langgraph dev` and Aegra (which imports it by path, on its own, so it
imports nothing but the standard library and `langgraph_sdk` at load time; the run checks import
Waypoint when the first run arrives).

Authentication: a bearer token (`Authorization: Bearer TOKEN`) or an API key (`x-api-key: TOKEN`),
looked up in configuration, never in the repository:

- `WAYPOINT_API_KEYS`: comma-separated `TOKEN:USER` entries, and/or
- `WAYPOINT_API_KEYS_FILE`: a file with one `TOKEN:USER` per line (`#` comments allowed), re-read
  when it changes, so keys rotate without a restart.

A `TOKEN` of the form `sha256:<64 hex digits>` is the SHA-256 of the real token, so the file need
not hold the secret itself. Tokens are at least 16 characters; make one with
`python -c "import secrets; print(secrets.token_urlsafe(32))"`. No credentials, an unknown token,
or no keys configured at all: 401 (fail closed).

LangGraph Studio on the local `langgraph dev` server: Studio sends no token. With
`WAYPOINT_STUDIO_USER=NAME` set, and only on the local dev server (never on Aegra or a deployed
server), a request marked `x-auth-scheme: langsmith` is let in as user NAME. Off by default.

Runs are also checked against the workflow's policy before they start (`create_run` below).

Authorization: each thread (and its runs, state, history, crons) belongs to the user who created
it: creation stamps `metadata.owner`, and every other action is filtered by it, so another user
gets 404 for a thread that is not theirs and never sees it in a search. A reviewer
(`waypoint.roles`: `WAYPOINT_ROLES=carol=reviewer:support`) may also read and search the
threads of the workflows it reviews and answer their pending questions (a run that is only a
`resume` command), nothing else; the run records that it answered as a reviewer. Through
`langgraph dev`; Aegra scopes every thread query to its creator in its own code (its SQL ANDs
a handler's filter to `user_id == identity`), so there a reviewer answers through the served
app's `/inbox` routes instead (`waypoint.server.app`).

The server's own service credential (`waypoint.server.service`), used by its `sweep` worker
and by those routes once they checked a reviewer, is a token that exists only in the server's
process and names the thread's owner it acts for (`x-waypoint-on-behalf-of`): it is let in as
that owner, marked as the service, and may read the thread and answer its pending question,
nothing else (403); the run records `sweeper` and role `deadline`, or the reviewer it names
(`x-waypoint-acting-user`) and role `reviewer`.

Assistants are the graphs in `langgraph.json`: everyone may read and search them, nobody may
create, change or delete them through the API. Store items live under a namespace that starts
with `("users", <identity>)`, the layout Aegra imposes on its Store API, so the same
namespace works on both servers (`own_namespace`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from langgraph_sdk import Auth

KEYS_ENV = "WAYPOINT_API_KEYS"
"""Environment variable with `TOKEN:USER,TOKEN:USER` entries."""

KEYS_FILE_ENV = "WAYPOINT_API_KEYS_FILE"
"""Environment variable naming a file with one `TOKEN:USER` entry per line."""

OWNER_KEY = "owner"
"""Metadata key that records who created a thread, run or cron."""

STUDIO_USER_ENV = "WAYPOINT_STUDIO_USER"
"""Opt-in: the user a token-less Studio request acts as, on the local dev server only."""

MIN_TOKEN_LENGTH = 16
"""Shorter tokens are refused as configuration errors."""

_USER = re.compile(r"^[A-Za-z0-9_.@-]{1,128}$")
_HASHED = re.compile(r"^sha256:[0-9a-fA-F]{64}$")

logger = logging.getLogger("waypoint.server.auth")
auth = Auth()


class KeyConfigError(ValueError):
    """The configured API keys cannot be used; the message says which entry and why."""


@dataclass(frozen=True)
class ApiKey:
    """One configured credential: the token (or its SHA-256) and the user it stands for."""

    user: str
    token: str | None = None
    sha256: str | None = None

    def matches(self, presented: str) -> bool:
        """Constant-time comparison with the presented token."""
        if self.sha256 is not None:
            digest = hashlib.sha256(presented.encode()).hexdigest()
            return hmac.compare_digest(digest, self.sha256)
        assert self.token is not None
        return hmac.compare_digest(presented.encode(), self.token.encode())


def parse_keys(text: str, *, source: str) -> list[ApiKey]:
    """Parse `TOKEN:USER` entries separated by commas or newlines.

    Raises:
        KeyConfigError: an entry has no user, a bad user name, or a token that is too short.
    """
    keys: list[ApiKey] = []
    for number, raw in enumerate(re.split(r"[,\n]", text), start=1):
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        token, sep, user = entry.rpartition(":")
        token, user = token.strip(), user.strip()
        if not sep or not token:
            raise KeyConfigError(f"{source} entry {number}: expected TOKEN:USER")
        if not _USER.match(user):
            raise KeyConfigError(
                f"{source} entry {number}: user must be 1-128 of A-Z a-z 0-9 _ . @ -"
            )
        if _HASHED.match(token):
            keys.append(ApiKey(user=user, sha256=token.removeprefix("sha256:").lower()))
        elif len(token) < MIN_TOKEN_LENGTH:
            raise KeyConfigError(
                f"{source} entry {number}: token shorter than {MIN_TOKEN_LENGTH} characters"
            )
        else:
            keys.append(ApiKey(user=user, token=token))
    return keys


_file_cache: dict[str, tuple[tuple[float, int], list[ApiKey]]] = {}


def _keys_from_file(path: str) -> list[ApiKey]:
    file = Path(path)
    try:
        stat = file.stat()
    except OSError as exc:
        raise KeyConfigError(f"{KEYS_FILE_ENV}={path}: cannot read it ({exc.strerror})") from exc
    stamp = (stat.st_mtime, stat.st_size)
    cached = _file_cache.get(path)
    if cached is None or cached[0] != stamp:
        _file_cache[path] = (stamp, parse_keys(file.read_text(), source=KEYS_FILE_ENV))
    return _file_cache[path][1]


def configured_keys(environ: Mapping[str, str] | None = None) -> list[ApiKey]:
    """Every key from `WAYPOINT_API_KEYS` and `WAYPOINT_API_KEYS_FILE` (read at each call).

    Raises:
        KeyConfigError: the configuration is malformed.
    """
    env = os.environ if environ is None else environ
    keys = parse_keys(env.get(KEYS_ENV, ""), source=KEYS_ENV)
    if path := env.get(KEYS_FILE_ENV, "").strip():
        keys.extend(_keys_from_file(path))
    return keys


def _header(headers: Mapping[Any, Any], name: str) -> str | None:
    for key, value in headers.items():
        text_key = key.decode("latin-1") if isinstance(key, bytes) else str(key)
        if text_key.lower() == name:
            return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return None


def presented_token(headers: Mapping[Any, Any]) -> str | None:
    """The token of `Authorization: Bearer TOKEN`, else of `x-api-key`, else None."""
    authorization = _header(headers, "authorization")
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    api_key = _header(headers, "x-api-key")
    return api_key.strip() if api_key and api_key.strip() else None


def studio_user(headers: Mapping[Any, Any], environ: Mapping[str, str] | None = None) -> str | None:
    """The opted-in Studio user, for a Studio request to the local dev server; else None."""
    env = os.environ if environ is None else environ
    user = env.get(STUDIO_USER_ENV, "").strip()
    if not user or env.get("LANGSMITH_LANGGRAPH_API_VARIANT") != "local_dev":
        return None
    if (_header(headers, "x-auth-scheme") or "").strip().lower() != "langsmith":
        return None
    return user if _USER.match(user) else None


def user_for_token(token: str, keys: list[ApiKey]) -> str | None:
    """The user a token belongs to; every key is compared, so timing tells nothing."""
    found: str | None = None
    for key in keys:
        if key.matches(token) and found is None:
            found = key.user
    return found


def _unauthorized(detail: str) -> Auth.exceptions.HTTPException:
    return Auth.exceptions.HTTPException(
        status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


@auth.authenticate
async def authenticate(headers: Mapping[Any, Any]) -> Auth.types.MinimalUserDict:
    """Map the request's bearer token or API key to a user; anything else is a 401."""
    token = presented_token(headers)
    if token is None:
        if (studio := studio_user(headers)) is not None:
            return _user(studio)
        raise _unauthorized("missing credentials: send Authorization: Bearer <token>")
    if (service := _service_user(token, headers)) is not None:
        return service
    try:
        keys = configured_keys()
    except KeyConfigError as exc:
        logger.error("waypoint auth: %s", exc)
        raise _unauthorized("server API keys are misconfigured; see the server log") from None
    if not keys:
        logger.error("waypoint auth: no keys configured (%s / %s)", KEYS_ENV, KEYS_FILE_ENV)
        raise _unauthorized(f"server has no API keys configured ({KEYS_ENV})")
    user = user_for_token(token, keys)
    if user is None:
        raise _unauthorized("invalid credentials")
    return _user(user)


def _service_user(token: str, headers: Mapping[Any, Any]) -> Auth.types.MinimalUserDict | None:
    """The server's own sweeper acting for a thread's owner, for its service token; else None.

    Raises:
        Auth.exceptions.HTTPException: the service token without a valid owner (401).
    """
    from waypoint.server.service import (
        ACTING_HEADER,
        ACTING_ROLE_HEADER,
        ACTING_ROLES,
        ON_BEHALF_HEADER,
        SERVICE_ACTOR_FIELD,
        SERVICE_ROLE_FIELD,
        SWEEPER,
        is_service_token,
    )

    if not is_service_token(token):
        return None
    owner = (_header(headers, ON_BEHALF_HEADER) or "").strip()
    if not _USER.match(owner):
        raise _unauthorized(f"service requests name the thread's owner ({ON_BEHALF_HEADER})")
    acting = (_header(headers, ACTING_HEADER) or "").strip()
    if acting and not _USER.match(acting):
        raise _unauthorized(f"{ACTING_HEADER}: not a user name")
    acting_role = (_header(headers, ACTING_ROLE_HEADER) or "reviewer").strip()
    if acting and acting_role not in ACTING_ROLES:
        raise _unauthorized(f"{ACTING_ROLE_HEADER}: expected one of {', '.join(ACTING_ROLES)}")
    actor, role = (acting, acting_role) if acting else (SWEEPER, "deadline")
    user = _user(owner)
    user["display_name"] = actor
    fields = {SERVICE_ACTOR_FIELD: actor, SERVICE_ROLE_FIELD: role}
    return cast(Auth.types.MinimalUserDict, {**user, **fields})


def _user_field(ctx: Auth.types.AuthContext, name: str) -> str | None:
    try:
        value = getattr(ctx.user, name, None)
    except Exception:  # a user proxy that raises something else for a missing field
        value = None
    return value if isinstance(value, str) and value else None


def _service(ctx: Auth.types.AuthContext) -> str | None:
    """Who acts through the service token (the sweeper, or a reviewer), if it was presented."""
    from waypoint.server.service import SERVICE_ACTOR_FIELD

    return _user_field(ctx, SERVICE_ACTOR_FIELD)


def _not_for_service(ctx: Auth.types.AuthContext) -> None:
    """A service request may read a thread and answer its question, nothing else (403)."""
    if _service(ctx) is not None:
        raise Auth.exceptions.HTTPException(
            status_code=403,
            detail=f"the server's service credential may not {ctx.resource}.{ctx.action}",
        )


def _user(identity: str) -> Auth.types.MinimalUserDict:
    return {
        "identity": identity,
        "display_name": identity,
        "is_authenticated": True,
        "permissions": [],
    }


def _stamp_owner(value: Any, identity: str) -> None:
    if isinstance(value, dict) and "metadata" in value:
        metadata = value.get("metadata")
        if not isinstance(metadata, dict):
            metadata = {}
            value["metadata"] = metadata
        metadata[OWNER_KEY] = identity


@auth.on
async def owner_only(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType:
    """Default for threads, runs and crons: stamp the owner on create, filter by it always."""
    _not_for_service(ctx)
    _stamp_owner(value, ctx.user.identity)
    return {OWNER_KEY: ctx.user.identity}


def _reviewed(identity: str) -> frozenset[str]:
    """The workflows `identity` reviews; none when the roles cannot be read (logged)."""
    from waypoint.roles import RoleConfigError, reviewed_graphs

    try:
        return reviewed_graphs(identity)
    except RoleConfigError as exc:
        logger.error("waypoint auth: %s", exc)
        return frozenset()


def _owned_or_reviewed(identity: str, graphs: frozenset[str]) -> Auth.types.FilterType | None:
    """Threads `identity` owns, or of a workflow it reviews (None: every thread, for `*`)."""
    if not graphs:
        return {OWNER_KEY: identity}
    if "*" in graphs:
        return None
    either = [{OWNER_KEY: identity}, *({"graph_id": g} for g in sorted(graphs))]
    # `$or` of metadata matches: both servers take it, though the SDK's type does not say so
    return cast(Auth.types.FilterType, {"$or": either})


@auth.on.threads.read
async def read_thread(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType | None:
    """Reading a thread (state, history): its owner, or a reviewer of its workflow."""
    if _service(ctx) is not None:
        return {OWNER_KEY: ctx.user.identity}  # the owner it acts for
    return _owned_or_reviewed(ctx.user.identity, _reviewed(ctx.user.identity))


@auth.on.threads.search
async def search_threads(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType | None:
    """Listing threads: the caller's own, and those of the workflows it reviews."""
    _not_for_service(ctx)
    return _owned_or_reviewed(ctx.user.identity, _reviewed(ctx.user.identity))


@auth.on.threads.create_run
async def create_run(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType | None:
    """Runs: the thread owner's, checked against the workflow's policy first.

    A command that jumps to a node or writes a protected field, a context looser than the
    policy, or a malformed answer is refused here (403 / 422), before the thread is touched
    (`waypoint.server.run_requests`). A reviewer may also answer the pending question of a
    thread of a workflow it reviews (a `resume` command and nothing else); the run's metadata
    records the role (`waypoint_role`), stamped here whatever the caller sent. The server's
    sweeper (`waypoint.server.service`) may only answer, for the owner it names.
    """
    from waypoint.actors import ROLE_KEY
    from waypoint.server.run_requests import RequestRefused, answers_only, check_run_request

    identity = ctx.user.identity
    _stamp_owner(value, identity)
    service = _service(ctx)
    if service is not None and not answers_only(value):
        raise Auth.exceptions.HTTPException(
            status_code=403,
            detail=f"the service credential (for {service}) may only answer a pending question",
        )
    try:
        # off the event loop: it may read waypoint.toml and import the workflow modules
        await asyncio.to_thread(check_run_request, value)
    except RequestRefused as refused:
        raise Auth.exceptions.HTTPException(
            status_code=refused.status, detail=refused.detail
        ) from None
    if service is not None:
        from waypoint.server.service import SERVICE_ROLE_FIELD

        if isinstance(value, dict) and isinstance(value.get("metadata"), dict):
            value["metadata"][ROLE_KEY] = _user_field(ctx, SERVICE_ROLE_FIELD) or "deadline"
        return {OWNER_KEY: identity}
    graphs = _reviewed(identity) if answers_only(value) else frozenset()
    if isinstance(value, dict) and isinstance(value.get("metadata"), dict):
        value["metadata"][ROLE_KEY] = "reviewer" if graphs else "owner"
    return _owned_or_reviewed(identity, graphs)


@auth.on.assistants.read
async def read_assistant(ctx: Auth.types.AuthContext, value: Any) -> None:
    """Assistants are the graphs in langgraph.json: readable by every authenticated user."""


@auth.on.assistants.search
async def search_assistants(ctx: Auth.types.AuthContext, value: Any) -> None:
    """Listing assistants is open to every authenticated user."""


@auth.on.assistants
async def change_assistant(ctx: Auth.types.AuthContext, value: Any) -> bool:
    """Creating, changing or deleting assistants through the API is refused (403)."""
    return False


STORE_NAMESPACE_FIELDS = ("namespace", "namespace_prefix", "prefix")
"""Where a server's Store request names its namespace, in the value its handler is given.

langgraph-api: always `namespace` (a search's prefix too; `None` for a listing without one),
and it reads the field back after the handler, so the handler may set it. Aegra: `namespace`
for put, get and delete, `namespace_prefix` for search, `prefix` for list_namespaces (`None`
without one); it reads back only the fields of the dict the handler returns.
"""

_PREFIX_ACTIONS = frozenset({"search", "list_namespaces"})


def _named_namespace(value: Any) -> tuple[str, tuple[str, ...]]:
    """The field a Store request names its namespace (or prefix) in, and its labels."""
    if isinstance(value, dict):
        for field in STORE_NAMESPACE_FIELDS:
            if field in value:
                raw = value[field]
                labels = tuple(raw) if isinstance(raw, list | tuple) else ()
                return field, tuple(str(label) for label in labels)
    return "namespace", ()


@auth.on.store
async def own_namespace(ctx: Auth.types.AuthContext, value: Any) -> dict[str, Any] | None:
    """A caller's Store namespaces are `("users", <identity>, ...)` (`waypoint.user_namespace`).

    Every action is checked on the namespace it really uses: put, get and delete on the item's
    namespace, search on its namespace prefix, list_namespaces on its prefix, each under the
    field its server names it (`STORE_NAMESPACE_FIELDS`). One that does not start with
    `("users", <identity>)` is refused (403), another user's too; a search or listing with no
    prefix (or an empty one) is scoped to `("users", <identity>)`.

    Why `"users"` first: Aegra files every Store API request under `("users", <caller>, ...)`
    unless it already starts so (`aegra_api.api.store.apply_namespace_scoping`), while the
    Store a run gets (`runtime.store`) is not prefixed by either server. Under this one layout
    a namespace means the same on `langgraph dev` and on Aegra, and what a graph keeps for
    its caller under `user_namespace(user, ...)` (research's findings: `("users", <user>,
    "research", "findings")`) is what that caller reads through the Store API on both. Aegra's
    `store.scopes` (other first labels, shared by a group) are not used here: a namespace
    starting with one is refused like any other.
    """
    _not_for_service(ctx)
    from waypoint.actors import user_namespace

    own = user_namespace(ctx.user.identity)
    field, labels = _named_namespace(value)
    if not labels and ctx.action in _PREFIX_ACTIONS and isinstance(value, dict):
        value[field] = own  # langgraph-api reads it back from the value
        return None if field == "namespace" else {field: list(own)}  # Aegra: from the result
    if labels[: len(own)] != own:
        raise Auth.exceptions.HTTPException(
            status_code=403,
            detail=f"store namespaces must start with {list(own)!r} (the caller's own); "
            f"{ctx.action} named {list(labels)!r}",
        )
    return None

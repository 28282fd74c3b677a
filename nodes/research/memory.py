"""Findings kept in the LangGraph Store, per user, for later threads to reuse.

Namespace `("users", <user>, "research", "findings")` (`waypoint.user_namespace`), where the
user is the acting user of the run (on a server, the caller it authenticated; never a value the
caller sends). Every Store namespace a server's caller may reach starts with `("users",
<caller>)` (`waypoint.server.auth`; Aegra files its Store API requests there itself), so the
owner can read their findings through the Store API, on `langgraph dev` and on Aegra, and
nobody else can. Key: a hash of the normalised sub-question, so a later thread whose plan has
the same sub-question finds it.

Each item carries its expiry (`expires_at`) and is written with the Store's own TTL where the
Store supports one (SQLite, Postgres: Aegra's and the command line's), so an expired finding is
never reused, even before a sweep removes it and on a Store without TTL (`langgraph dev`'s
in-memory one). Reading a finding does not extend its life. Without a Store (a graph compiled
without one) memory is off.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from langgraph.config import get_config, get_store
from langgraph.store.base import BaseStore

from state.research import Finding
from waypoint import acting_user, user_namespace, without_nul

NAMESPACE = "research"


def namespace(user: str | None) -> tuple[str, ...]:
    """The Store namespace of a user's findings."""
    return user_namespace(user or "anonymous", NAMESPACE, "findings")


def key(question: str) -> str:
    """The Store key of a sub-question: a hash of its lower-cased words."""
    normal = " ".join(question.lower().replace("?", " ").split())
    return hashlib.sha256(normal.encode()).hexdigest()[:32]


async def recall(store: BaseStore, user: str | None, question: str) -> dict[str, Any] | None:
    """The kept finding for `question` (with `thread_id`), unless missing or expired."""
    item = await store.aget(namespace(user), key(question), refresh_ttl=False)
    if item is None or float(item.value.get("expires_at", 0)) <= time.time():
        return None
    return dict(item.value)


async def recall_current(question: str) -> dict[str, Any] | None:
    """`recall` for the acting user of the run this is called in, from the run's Store."""
    try:
        store = get_store()
    except RuntimeError:  # called outside a run
        return None
    if store is None:
        return None
    return await recall(store, acting_user(get_config()), question)


async def remember(
    store: BaseStore, user: str | None, finding: Finding, thread_id: str, ttl_minutes: float
) -> None:
    """Keep an answered finding for `ttl_minutes`.

    A NUL character in its text (a passage quoting binary data) becomes U+FFFD: a Postgres
    Store's values are JSONB, which cannot hold one, and a server's Store (Aegra's) is not the
    one `open_stores` opens, which replaces it too.
    """
    value = without_nul(
        {
            "finding": finding.model_dump(mode="json"),
            "thread_id": thread_id,
            "stored_at": time.time(),
            "expires_at": time.time() + ttl_minutes * 60,
        }
    )
    ttl = ttl_minutes if store.supports_ttl else None
    await store.aput(namespace(user), key(finding.question), value, ttl=ttl)

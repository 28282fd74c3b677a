"""Background work the servers run beside the API: the outbox relay and webhook delivery.

Started by the served app's lifespan (`waypoint.server.app`) on both servers, on the
database of `WAYPOINT_DB_URL`, unless `WAYPOINT_SERVER_WORKERS` says otherwise
(comma-separated, default `relay,notify`; empty: none):

- `relay`: `waypoint relay` as a worker: effects left pending in the outbox are delivered with
  backoff. Several instances may each run one: a relay claims each effect for a lease and the
  provider applies a key once.
- `notify`: `waypoint notify` every `WAYPOINT_NOTIFY_SECONDS` (default 10), one instance at a
  time (a lock in the database), when webhook endpoints are configured.

`waypoint sweep` stays a command (cron): applying a default answer resumes a thread, which a
server must do through its own run queue, not beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from waypoint.persistence.sql import Database

logger = logging.getLogger("waypoint.server.workers")

WORKERS_ENV = "WAYPOINT_SERVER_WORKERS"
KNOWN = ("relay", "notify")


def enabled_workers(environ: dict[str, str] | None = None) -> list[str]:
    """The workers this server runs (unknown names are logged and skipped)."""
    env = dict(os.environ) if environ is None else environ
    raw = env.get(WORKERS_ENV, ",".join(KNOWN))
    chosen = [name.strip() for name in raw.split(",") if name.strip()]
    for name in chosen:
        if name not in KNOWN:
            logger.error("%s: unknown worker %r (expected %s)", WORKERS_ENV, name, ", ".join(KNOWN))
    return [name for name in KNOWN if name in chosen]


async def _relay(db: Database, stop: asyncio.Event) -> None:
    from waypoint.outbox import relay

    await relay(db, once=False, stop=stop)


async def _notify(db: Database, stop: asyncio.Event) -> None:
    from waypoint.notifications import deliver, endpoints
    from waypoint.persistence.sql import PostgresDatabase

    every = float(os.environ.get("WAYPOINT_NOTIFY_SECONDS") or 10)
    while not stop.is_set():
        if endpoints():
            if isinstance(db, PostgresDatabase):
                async with db.session_lock("waypoint_notify"):
                    await deliver(db, rounds=1)
            else:
                await deliver(db, rounds=1)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


Work = Callable[["Database", asyncio.Event], Coroutine[Any, Any, None]]


async def _guarded(name: str, work: Work, db: Database, stop: asyncio.Event) -> None:
    """Run a worker until stopped; a failure is logged and the worker starts again."""
    while not stop.is_set():
        try:
            await work(db, stop)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("worker %s failed; starting it again in 5 s", name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 5)


def _run_in_thread(names: list[str], stop: threading.Event) -> None:
    """The workers' own event loop, in a thread of its own.

    Apart from the server's loop: their database calls never block a request (nor trip
    `langgraph dev`'s blocking-call check), and their connections are theirs alone.
    """
    from waypoint.persistence.urls import check_sqlite_location, parse_db_url
    from waypoint.private_files import private_file

    parsed = parse_db_url()
    if parsed.sqlite_path is not None:  # file checks before the loop: no blocking call in it
        check_sqlite_location(parsed.sqlite_path)
        private_file(parsed.sqlite_path)

    async def main() -> None:
        from waypoint.persistence.stores import open_stores

        done = asyncio.Event()
        jobs: dict[str, Work] = {"relay": _relay, "notify": _notify}
        async with open_stores(None) as stores:  # one connection for every worker
            tasks = [asyncio.create_task(_guarded(n, jobs[n], stores.db, done)) for n in names]
            await asyncio.to_thread(stop.wait)
            done.set()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


@asynccontextmanager
async def background_workers() -> AsyncIterator[list[str]]:
    """Run the enabled workers while the server runs (in a thread); stop them with it."""
    names = enabled_workers()
    if not names:
        yield names
        return
    stop = threading.Event()
    thread = threading.Thread(
        target=_run_in_thread, args=(names, stop), name="waypoint-workers", daemon=True
    )
    thread.start()
    logger.info("waypoint workers started: %s", ", ".join(names))
    try:
        yield names
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, 30)

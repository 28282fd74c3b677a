"""Background work the servers run beside the API: outbox relay, webhooks, deadline sweeps.

Started by the served app's lifespan (`waypoint.server.app`) on both servers, on the
database of `WAYPOINT_DB_URL`, unless `WAYPOINT_SERVER_WORKERS` says otherwise
(comma-separated, default `relay,notify,sweep`; empty: none):

- `relay`: `waypoint relay` as a worker: effects left pending in the outbox are delivered with
  backoff. Several instances may each run one: a relay claims each effect for a lease and the
  provider applies a key once.
- `notify`: `waypoint notify` every `WAYPOINT_NOTIFY_SECONDS` (default 10), one instance at a
  time (a lock in the database), when webhook endpoints are configured.
- `sweep`: every `WAYPOINT_SWEEP_SECONDS` (default 30), the questions that runs of a server
  asked and whose deadline passed get their default answer (`waypoint.sweeper`), exactly once,
  as the actor `sweeper` (role `deadline`). The worker does not resume a thread beside the
  server: it answers through the server's own API, over loopback (`WAYPOINT_SELF_URL`, else the
  URL `langgraph dev` announces, else `HOST`/`PORT`), with the server's service credential
  acting for the thread's owner (`waypoint.server.service`). So the resume is a run of the
  server's run queue like a person's answer: the same auth and policy checks, the server's
  `multitask_strategy` and fence, the served graph's guards and ledger; a default that
  proceeds runs the node's own checks (an effect re-reads its facts). Each question is claimed
  in the database first (`waypoint.sweeper.claim`): another instance, or `waypoint sweep`,
  never applies it too, and a crash leaves it to the next sweep once the claim's lease ends.
  One instance sweeps at a time on Postgres (a lock in the database). Warnings
  (`deadline_near`) and escalations are written by whichever sweep sees them first.
  `waypoint sweep` (cron) remains for questions asked by the command line or Python, and
  leaves the servers' questions to them.
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
    from waypoint.persistence.sql import Database, Row
    from waypoint.sweeper import Apply

logger = logging.getLogger("waypoint.server.workers")

WORKERS_ENV = "WAYPOINT_SERVER_WORKERS"
KNOWN = ("relay", "notify", "sweep")


def enabled_workers() -> list[str]:
    """The workers this server runs (unknown names are logged and skipped)."""
    raw = os.environ.get(WORKERS_ENV, ",".join(KNOWN))
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


def answer_through_server(base_url: str) -> Apply:
    """The sweeper's way to apply a default answer: a `resume` run on the server's own API.

    As the service credential acting for the thread's owner (the first actor of its ledger,
    who started it); only while that very question is still pending (else `BadInput`), and
    not while the thread runs (`ThreadBusy`).
    """
    from waypoint.errors import BadInput, ThreadBusy
    from waypoint.server.caller import (
        ThreadNotFound,
        run_answer,
        service_caller,
        thread_owner,
        view,
    )

    async def apply(row: Row, answer: dict[str, Any]) -> str:
        thread_id, interrupt_id = str(row["thread_id"]), str(row["handoff_id"])
        owner = await thread_owner(thread_id)
        if owner is None:
            raise BadInput(f"thread_id: no owner recorded for {thread_id}", field="thread_id")
        caller = service_caller(base_url, owner)
        try:
            current = await view(caller, thread_id)
        except ThreadNotFound:
            raise BadInput(f"thread_id: the server has no thread {thread_id}") from None
        if current.status == "running":
            raise ThreadBusy(f"thread {thread_id} is running on the server")
        if current.status != "waiting" or interrupt_id not in {
            item["interrupt_id"] for item in current.pending
        }:
            raise BadInput(f"interrupt_id: {interrupt_id} is no longer pending")
        done = await run_answer(caller, current, {interrupt_id: answer})
        return done.status

    return apply


async def _sweep(db: Database, stop: asyncio.Event) -> None:
    from waypoint.persistence.sql import PostgresDatabase
    from waypoint.server.caller import own_base_url
    from waypoint.sweeper import apply_due

    every = float(os.environ.get("WAYPOINT_SWEEP_SECONDS") or 30)
    base_url = own_base_url()
    if base_url is None:
        logger.error(
            "worker sweep: the server's own URL is unknown; set WAYPOINT_SELF_URL "
            "(deadlines of this server's threads are not applied until then)"
        )
        await stop.wait()
        return
    apply = answer_through_server(base_url)
    while not stop.is_set():
        if isinstance(db, PostgresDatabase):
            async with db.session_lock("waypoint_sweep"):
                await apply_due(db, served=True, apply=apply, where="server")
        else:
            await apply_due(db, served=True, apply=apply, where="server")
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
        jobs: dict[str, Work] = {"relay": _relay, "notify": _notify, "sweep": _sweep}
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

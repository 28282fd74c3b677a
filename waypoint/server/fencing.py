"""One linear history per thread, enforced by Postgres where the checkpoint is written.

A LangGraph server that honours `multitask_strategy` never runs two runs on one thread at once.
Aegra ignores it: two runs on one thread, through two instances, ran at once and forked the
history, and a worker that was presumed dead (lease expired, run re-queued elsewhere) can wake up
and write again. Waypoint therefore fences the checkpoint table itself, so the rule holds for any
writer (Aegra, the `waypoint` CLI, a script) whatever the server does:

    a run's checkpoint (metadata `source` = `input` or `loop`, root namespace) may be written
    only if its parent is the thread's latest checkpoint; otherwise the insert fails and the run
    that wrote it stops with an error naming the thread.

Deliberate branches stay allowed: `update_state` (source `update`, how a fork starts) and the
checkpoint LangGraph writes when a run starts from a past checkpoint (source `fork`). Rewriting a
checkpoint that exists (an upsert of the same id) is allowed. Checks on one thread are serialised
by a transaction-scoped advisory lock, so two writers cannot both pass. Subgraph namespaces are
not fenced (their parents are root checkpoints, which are).

Install with `python -m waypoint.server.fencing install --db URL` (`make serve` does it); it also
creates the checkpoint and store tables (the saver's and store's own `setup()`) and Waypoint's
tables if missing, and is safe to run twice or from two processes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import psycopg
from langgraph.store.postgres.aio import AsyncPostgresStore
from psycopg import sql

from waypoint.persistence.sql import PostgresDatabase
from waypoint.persistence.stores import open_stores
from waypoint.persistence.urls import parse_db_url

FENCE_FUNCTION = "waypoint_fence_checkpoint"
"""The trigger function's name."""

FENCE_TRIGGER = "waypoint_fence"
"""The trigger's name on the `checkpoints` table."""

FENCE_MESSAGE = "waypoint fence"
"""Every refusal's message starts with this."""

_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION {FENCE_FUNCTION}() RETURNS trigger
LANGUAGE plpgsql AS $fence$
DECLARE
    head text;
    source text := NEW.metadata ->> 'source';
BEGIN
    IF NEW.checkpoint_ns <> '' OR source IS NULL OR source NOT IN ('input', 'loop') THEN
        RETURN NEW;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('waypoint-checkpoint:' || NEW.thread_id, 0));
    IF EXISTS (
        SELECT 1 FROM checkpoints
        WHERE thread_id = NEW.thread_id AND checkpoint_ns = ''
          AND checkpoint_id = NEW.checkpoint_id
    ) THEN
        RETURN NEW;
    END IF;
    SELECT checkpoint_id INTO head FROM checkpoints
    WHERE thread_id = NEW.thread_id AND checkpoint_ns = ''
    ORDER BY checkpoint_id DESC LIMIT 1;
    IF head IS DISTINCT FROM NEW.parent_checkpoint_id THEN
        RAISE EXCEPTION USING
            MESSAGE = format(
                '{FENCE_MESSAGE}: thread %s moved on while this run was writing '
                '(its parent checkpoint %s is not the latest, %s)',
                NEW.thread_id, coalesce(NEW.parent_checkpoint_id, 'none'), head),
            DETAIL = 'Another run wrote to this thread: two runs at once, or a worker that '
                     'was presumed dead. Nothing of this run was saved.',
            HINT = 'Read the thread state and start a new run from it.';
    END IF;
    RETURN NEW;
END
$fence$;
"""

_TRIGGER_SQL = (
    f"DROP TRIGGER IF EXISTS {FENCE_TRIGGER} ON checkpoints",
    f"CREATE TRIGGER {FENCE_TRIGGER} BEFORE INSERT ON checkpoints "
    f"FOR EACH ROW EXECUTE FUNCTION {FENCE_FUNCTION}()",
)


async def install(url: str) -> None:
    """Create the checkpoint and Waypoint tables if missing, then (re)install the fence.

    Raises:
        ValueError: `url` is not a Postgres URL (SQLite has a single writer anyway).
    """
    if parse_db_url(url).kind != "postgres":
        raise ValueError("the checkpoint fence needs Postgres; SQLite is single-writer already")
    async with open_stores(url) as stores:
        db = stores.db
        assert isinstance(db, PostgresDatabase)
        # The server's store tables too: instances that start together on a fresh database
        # would otherwise race in `AsyncPostgresStore.setup()` (a duplicate-key failure).
        async with db.session_lock("waypoint_store_setup"):
            await AsyncPostgresStore(db.pool).setup()
        async with db.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('waypoint_fence_install'))")
            await conn.execute(_FUNCTION_SQL)
            for statement in _TRIGGER_SQL:
                await conn.execute(statement)


async def uninstall(url: str) -> None:
    """Remove the fence (the tables stay)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            sql.SQL("DROP TRIGGER IF EXISTS {} ON checkpoints").format(
                sql.Identifier(FENCE_TRIGGER)
            )
        )
        await conn.execute(
            sql.SQL("DROP FUNCTION IF EXISTS {}()").format(sql.Identifier(FENCE_FUNCTION))
        )


async def installed(url: str) -> bool:
    """Whether the fence trigger is on the `checkpoints` table of `url`."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT 1 FROM pg_trigger WHERE tgname = %s AND NOT tgisinternal "
            "AND tgrelid = to_regclass('checkpoints')",
            (FENCE_TRIGGER,),
        )
        return await cursor.fetchone() is not None


async def ensure_database(url: str) -> bool:
    """Create the database `url` names if it does not exist; True if it was created."""
    conninfo = psycopg.conninfo.conninfo_to_dict(url)
    name = str(conninfo.get("dbname") or "")
    if not name:
        return False
    try:
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
    else:
        await conn.close()
        return False
    maintenance = psycopg.conninfo.make_conninfo(url, dbname="postgres")
    async with await psycopg.AsyncConnection.connect(maintenance, autocommit=True) as conn:
        try:
            await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m waypoint.server.fencing install|check|uninstall --db URL`."""
    parser = argparse.ArgumentParser(
        prog="python -m waypoint.server.fencing",
        description="Fence the checkpoint table: one linear history per thread.",
    )
    parser.add_argument("action", choices=["install", "check", "uninstall"])
    parser.add_argument("--db", required=True, help="Postgres URL of the server's database")
    parser.add_argument(
        "--create-database", action="store_true", help="create the database if it is missing"
    )
    args = parser.parse_args(argv)
    try:
        if args.action == "install":
            if args.create_database and asyncio.run(ensure_database(args.db)):
                sys.stderr.write("fencing: created the database\n")
            asyncio.run(install(args.db))
            sys.stderr.write("fencing: installed on the checkpoints table\n")
            return 0
        if args.action == "uninstall":
            asyncio.run(uninstall(args.db))
            sys.stderr.write("fencing: removed\n")
            return 0
        ok = asyncio.run(installed(args.db))
        sys.stderr.write(f"fencing: {'installed' if ok else 'NOT installed'}\n")
        return 0 if ok else 1
    except (psycopg.Error, ValueError) as exc:
        sys.stderr.write(f"fencing: {type(exc).__name__}: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())

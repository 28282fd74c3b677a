"""Versioned migrations for Waypoint's tables, on SQLite and Postgres alike.

Each component (`waypoint` itself, and each workflow with tables of its own) registers an
ordered list of migrations. `migrate` applies the missing ones under a lock, so running it twice,
or from two processes at once, is safe. A migration that changes a table of the checkpoint
saver (`needs_table`) waits until the saver's own setup has created it: `open_stores` migrates
after the saver's setup, and a database with no such table (a server keeping its checkpoints
elsewhere) skips it and the rest of its component until a later `migrate` finds the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from waypoint.persistence.sql import Database, Executor
from waypoint.persistence.writer_fence import FENCE_KEY, REFUSAL

Script = str | tuple[str, ...]
"""Statements separated by `;`, or a tuple of whole statements (bodies that contain `;`)."""


@dataclass(frozen=True)
class Migration:
    """One schema change. `postgres` defaults to the SQLite text when both dialects agree."""

    component: str
    version: int
    name: str
    sqlite: Script
    postgres: Script | None = None
    needs_table: str | None = None
    """A table this migration changes but does not create (the saver's `checkpoints`): until it
    exists, this migration and the later ones of its component wait."""

    def sql_for(self, kind: str) -> Script:
        """The statements for a backend."""
        return self.postgres if kind == "postgres" and self.postgres else self.sqlite


_REGISTRY: dict[str, list[Migration]] = {}

_BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS waypoint_schema_migrations (
    component TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (component, version)
)
"""


def register(*migrations: Migration) -> None:
    """Add migrations; versions of a component must be unique and increasing from 1."""
    for migration in migrations:
        known = _REGISTRY.setdefault(migration.component, [])
        if any(m.version == migration.version for m in known):
            if migration not in known:
                raise ValueError(
                    f"migration {migration.component} v{migration.version} registered twice "
                    "with different contents"
                )
            continue
        known.append(migration)
        known.sort(key=lambda m: m.version)


def registered() -> list[Migration]:
    """Every registered migration, by component then version."""
    return [m for component in sorted(_REGISTRY) for m in _REGISTRY[component]]


async def _statements(tx: Executor, script: Script) -> None:
    statements = script.split(";") if isinstance(script, str) else script
    for statement in statements:
        if statement.strip():
            await tx.execute(statement)


async def _table_exists(tx: Executor, table: str) -> bool:
    if tx.kind == "postgres":
        row = await tx.fetchone(
            "SELECT to_regclass(:table) IS NOT NULL AS present", {"table": table}
        )
    else:
        row = await tx.fetchone(
            "SELECT count(*) > 0 AS present FROM sqlite_master WHERE type = 'table' "
            "AND name = :table",
            {"table": table},
        )
    return bool(row and row["present"])


async def migrate(db: Database) -> list[Migration]:
    """Apply every registered migration not yet applied; return the ones applied now."""
    applied_now: list[Migration] = []
    async with db.transaction(lock_key="waypoint_schema_migrations") as tx:
        await tx.execute(_BOOTSTRAP)
        rows = await tx.fetchall("SELECT component, version FROM waypoint_schema_migrations")
        done = {(row["component"], int(row["version"])) for row in rows}
        waiting: set[str] = set()  # components held back until a table of theirs exists
        for migration in registered():
            if (migration.component, migration.version) in done:
                continue
            if migration.component in waiting or (
                migration.needs_table is not None
                and not await _table_exists(tx, migration.needs_table)
            ):
                waiting.add(migration.component)
                continue
            await _statements(tx, migration.sql_for(db.kind))
            await tx.execute(
                "INSERT INTO waypoint_schema_migrations (component, version, name, applied_at) "
                "VALUES (:component, :version, :name, :applied_at)",
                {
                    "component": migration.component,
                    "version": migration.version,
                    "name": migration.name,
                    "applied_at": datetime.now(UTC).isoformat(),
                },
            )
            applied_now.append(migration)
    return applied_now


register(
    Migration(
        component="waypoint",
        version=1,
        name="thread index and side-effect keys",
        sqlite="""
        CREATE TABLE waypoint_threads (
            thread_id TEXT PRIMARY KEY,
            graph TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            summary TEXT NOT NULL DEFAULT '{}',
            context TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX waypoint_threads_graph ON waypoint_threads (graph, updated_at);
        CREATE TABLE waypoint_side_effects (
            effect_key TEXT PRIMARY KEY,
            thread_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            result TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX waypoint_side_effects_thread ON waypoint_side_effects (thread_id)
        """,
    )
)

register(
    Migration(
        component="waypoint",
        version=2,
        name="thread holders (one writer per thread)",
        sqlite="""
        CREATE TABLE waypoint_thread_holders (
            thread_id TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            acquired_at TEXT NOT NULL
        )
        """,
    )
)

register(
    Migration(
        component="waypoint",
        version=3,
        name="audit ledger, kill requests, overrides",
        sqlite="""
        CREATE TABLE waypoint_ledger (
            ledger_id TEXT PRIMARY KEY,
            thread_id TEXT NOT NULL,
            graph TEXT NOT NULL,
            run_id TEXT NOT NULL,
            step INTEGER NOT NULL,
            node TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            status TEXT NOT NULL,
            checkpoint_id TEXT,
            capability TEXT,
            provider TEXT,
            provider_version TEXT,
            routing_reason TEXT,
            input_digest TEXT,
            output_digest TEXT,
            summary TEXT,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            latency_ms REAL,
            tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd TEXT NOT NULL DEFAULT '0',
            error_class TEXT,
            error_message TEXT,
            gate TEXT,
            gate_passed INTEGER,
            actor TEXT,
            human_decision TEXT
        );
        CREATE INDEX waypoint_ledger_thread ON waypoint_ledger (thread_id, started_at);
        CREATE INDEX waypoint_ledger_graph ON waypoint_ledger (graph, started_at);
        CREATE TABLE waypoint_kills (
            thread_id TEXT PRIMARY KEY,
            reason TEXT NOT NULL,
            requested_by TEXT NOT NULL,
            requested_at TEXT NOT NULL,
            consumed_at TEXT
        );
        CREATE TABLE waypoint_overrides (
            override_id TEXT PRIMARY KEY,
            thread_id TEXT NOT NULL,
            halt TEXT NOT NULL,
            reason TEXT NOT NULL,
            actor TEXT NOT NULL,
            at TEXT NOT NULL
        )
        """,
    )
)

register(
    Migration(
        component="waypoint",
        version=4,
        name="circuit breakers shared by every process",
        sqlite="""
        CREATE TABLE waypoint_breakers (
            provider TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            failures INTEGER NOT NULL DEFAULT 0,
            opened_at REAL,
            rate_limited_until REAL,
            updated_at REAL NOT NULL
        )
        """,
        postgres="""
        CREATE TABLE waypoint_breakers (
            provider TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            failures INTEGER NOT NULL DEFAULT 0,
            opened_at DOUBLE PRECISION,
            rate_limited_until DOUBLE PRECISION,
            updated_at DOUBLE PRECISION NOT NULL
        )
        """,
    )
)

register(
    Migration(
        component="waypoint",
        version=5,
        name="writer fencing tokens (one per lock acquisition)",
        sqlite="ALTER TABLE waypoint_thread_holders ADD COLUMN fence INTEGER NOT NULL DEFAULT 0",
        postgres="ALTER TABLE waypoint_thread_holders ADD COLUMN IF NOT EXISTS fence BIGINT "
        "NOT NULL DEFAULT 0",
    )
)

_KILL_SCOPES = """
CREATE TABLE waypoint_kill_scopes (
    kill_id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    reason TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    reached TEXT NOT NULL,
    lifted_at TEXT,
    lifted_by TEXT,
    lift_reason TEXT
);
CREATE UNIQUE INDEX waypoint_kill_scopes_active ON waypoint_kill_scopes (scope)
    WHERE lifted_at IS NULL
"""

register(
    Migration(
        component="waypoint_kill_scopes",
        version=1,
        name="graph and global kills (`waypoint.kill`), lifted by unkill",
        sqlite=_KILL_SCOPES,
        postgres=_KILL_SCOPES,
    )
)


_HANDOFFS = """
CREATE TABLE waypoint_handoffs (
    thread_id TEXT NOT NULL,
    handoff_id TEXT NOT NULL,
    graph TEXT NOT NULL,
    node TEXT,
    kind TEXT NOT NULL,
    asked_at TEXT NOT NULL,
    answered_at TEXT,
    answered_by TEXT,
    PRIMARY KEY (thread_id, handoff_id)
);
CREATE INDEX waypoint_handoffs_graph ON waypoint_handoffs (graph, asked_at)
"""

register(
    Migration(
        component="waypoint_handoffs",
        version=1,
        name="handoffs to a human: asked, answered, by whom (`waypoint.handoffs`)",
        sqlite=_HANDOFFS,
        postgres=_HANDOFFS,
    )
)

register(
    Migration(
        component="waypoint_handoffs",
        version=2,
        name="a question's deadline and default outcome (`waypoint sweep`)",
        sqlite=(
            "ALTER TABLE waypoint_handoffs ADD COLUMN deadline_at TEXT",
            "ALTER TABLE waypoint_handoffs ADD COLUMN on_timeout TEXT",
        ),
        postgres=(
            "ALTER TABLE waypoint_handoffs ADD COLUMN IF NOT EXISTS deadline_at TEXT",
            "ALTER TABLE waypoint_handoffs ADD COLUMN IF NOT EXISTS on_timeout TEXT",
        ),
    )
)

register(
    Migration(
        component="waypoint_handoffs",
        version=3,
        name="where a question was asked (a server run or not) and the sweeper's claim on it",
        sqlite=(
            "ALTER TABLE waypoint_handoffs ADD COLUMN served INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE waypoint_handoffs ADD COLUMN claimed_by TEXT",
            "ALTER TABLE waypoint_handoffs ADD COLUMN claimed_until TEXT",
        ),
        postgres=(
            "ALTER TABLE waypoint_handoffs ADD COLUMN IF NOT EXISTS served INTEGER NOT NULL "
            "DEFAULT 0",
            "ALTER TABLE waypoint_handoffs ADD COLUMN IF NOT EXISTS claimed_by TEXT",
            "ALTER TABLE waypoint_handoffs ADD COLUMN IF NOT EXISTS claimed_until TEXT",
        ),
    )
)

_NOTIFICATIONS = """
CREATE TABLE waypoint_notifications (
    event_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    body TEXT NOT NULL,
    queued_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    delivered_at TEXT,
    PRIMARY KEY (event_id, endpoint)
)
"""

register(
    Migration(
        component="waypoint_notifications",
        version=1,
        name="webhook events, one per event and endpoint (`waypoint.notifications`)",
        sqlite=_NOTIFICATIONS,
        postgres=_NOTIFICATIONS,
    )
)

_SQLITE_FENCE_TRIGGER = f"""
CREATE TRIGGER IF NOT EXISTS waypoint_writer_fence BEFORE INSERT ON checkpoints
WHEN json_extract(CAST(NEW.metadata AS TEXT), '$.{FENCE_KEY}') IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, '{REFUSAL}: the thread was taken over by another writer')
    WHERE NOT EXISTS (
        SELECT 1 FROM waypoint_thread_holders
        WHERE thread_id = NEW.thread_id
          AND fence = json_extract(CAST(NEW.metadata AS TEXT), '$.{FENCE_KEY}')
    );
END
"""

_POSTGRES_FENCE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION waypoint_writer_fence() RETURNS trigger
LANGUAGE plpgsql AS $fence$
DECLARE
    token bigint;
    current_token bigint;
BEGIN
    IF NEW.metadata -> '{FENCE_KEY}' IS NULL THEN
        RETURN NEW;
    END IF;
    token := (NEW.metadata ->> '{FENCE_KEY}')::bigint;
    -- FOR SHARE: a writer taking the thread over waits until this insert commits
    SELECT fence INTO current_token FROM waypoint_thread_holders
    WHERE thread_id = NEW.thread_id FOR SHARE;
    IF current_token IS DISTINCT FROM token THEN
        RAISE EXCEPTION USING
            MESSAGE = format(
                '{REFUSAL}: thread %s was taken over by another writer (fence %s < %s)',
                NEW.thread_id, token, coalesce(current_token::text, 'none')),
            HINT = 'This run lost its writer lock; the other writer goes on. Nothing of this '
                   'checkpoint was saved.';
    END IF;
    RETURN NEW;
END
$fence$
"""

register(
    Migration(
        component="waypoint_checkpoints",
        version=1,
        name="writer fence on the saver's checkpoints (a stale fencing token is refused)",
        sqlite=(_SQLITE_FENCE_TRIGGER,),
        postgres=(
            _POSTGRES_FENCE_FUNCTION,
            "DROP TRIGGER IF EXISTS waypoint_writer_fence ON checkpoints",
            "CREATE TRIGGER waypoint_writer_fence BEFORE INSERT ON checkpoints "
            "FOR EACH ROW EXECUTE FUNCTION waypoint_writer_fence()",
        ),
        needs_table="checkpoints",
    )
)

_OUTBOX = """
CREATE TABLE waypoint_outbox (
    effect_key TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    provider TEXT NOT NULL,
    path TEXT NOT NULL,
    body TEXT NOT NULL,
    compensation TEXT,
    compensates TEXT,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at {real} NOT NULL,
    last_error TEXT,
    answer_status INTEGER,
    answer TEXT,
    seq BIGINT NOT NULL,
    actor TEXT,
    reason TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK (status IN ('pending', 'delivered', 'refused'))
);
CREATE INDEX waypoint_outbox_due ON waypoint_outbox (status, next_attempt_at);
CREATE INDEX waypoint_outbox_thread ON waypoint_outbox (thread_id, seq);
CREATE TABLE waypoint_compensations (
    request_id TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    effects TEXT NOT NULL,
    requested_at TEXT NOT NULL
);
CREATE INDEX waypoint_compensations_thread ON waypoint_compensations (thread_id, requested_at)
"""

register(
    Migration(
        component="waypoint_outbox",
        version=1,
        name="outbox of external calls (keyed by business key) and compensation requests",
        sqlite=_OUTBOX.format(real="REAL"),
        postgres=_OUTBOX.format(real="DOUBLE PRECISION"),
    )
)

register(
    Migration(
        component="waypoint_ledger_tasks",
        version=1,
        name="ledger rows name their LangGraph task (Send fan-out, subgraphs)",
        sqlite=(
            "ALTER TABLE waypoint_ledger ADD COLUMN task_id TEXT",
            "ALTER TABLE waypoint_ledger ADD COLUMN task_path TEXT",
            "ALTER TABLE waypoint_ledger ADD COLUMN checkpoint_ns TEXT NOT NULL DEFAULT ''",
        ),
        postgres=(
            "ALTER TABLE waypoint_ledger ADD COLUMN IF NOT EXISTS task_id TEXT",
            "ALTER TABLE waypoint_ledger ADD COLUMN IF NOT EXISTS task_path TEXT",
            "ALTER TABLE waypoint_ledger ADD COLUMN IF NOT EXISTS checkpoint_ns TEXT "
            "NOT NULL DEFAULT ''",
        ),
    )
)

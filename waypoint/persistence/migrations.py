"""Versioned migrations for Waypoint's tables, on SQLite and Postgres alike.

Each component (`waypoint` itself, and each workflow with tables of its own) registers an
ordered list of migrations. `migrate` applies the missing ones under a lock, so running it twice,
or from two processes at once, is safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from waypoint.persistence.sql import Database, Executor


@dataclass(frozen=True)
class Migration:
    """One schema change. `postgres` defaults to the SQLite text when both dialects agree."""

    component: str
    version: int
    name: str
    sqlite: str
    postgres: str | None = None

    def sql_for(self, kind: str) -> str:
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


async def _statements(tx: Executor, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            await tx.execute(statement)


async def migrate(db: Database) -> list[Migration]:
    """Apply every registered migration not yet applied; return the ones applied now."""
    applied_now: list[Migration] = []
    async with db.transaction(lock_key="waypoint_schema_migrations") as tx:
        await tx.execute(_BOOTSTRAP)
        rows = await tx.fetchall("SELECT component, version FROM waypoint_schema_migrations")
        done = {(row["component"], int(row["version"])) for row in rows}
        for migration in registered():
            if (migration.component, migration.version) in done:
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

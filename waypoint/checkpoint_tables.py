"""Read a thread's checkpoints straight from the saver's tables, for `history`, `show` and `diff`.

LangGraph's `aget_state_history` builds a full `StateSnapshot` per checkpoint, and the savers'
`alist` under it loads every checkpoint's values and writes (Postgres: one correlated query per
row; SQLite: one more query per row). Time travel needs less: the id, parent and metadata of
every checkpoint (to mark branches), and for the few rows it prints, the saved checkpoint and
which of its tasks asked a question. This module reads that, in a few queries, from the tables
of the two savers Waypoint opens, decoding values with the saver's own serializer (so
encryption at rest keeps working), each stored value once.

The table layouts are those of langgraph-checkpoint-sqlite 3.1 and langgraph-checkpoint-postgres
3.2. `tables_for` returns None for any other saver, and callers fall back to LangGraph's API.
`tests/integration/test_timetravel_fast_path.py` compares what is read here with LangGraph's own
snapshots on both backends, so a change of layout fails loudly.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from langgraph._internal._constants import INTERRUPT, NULL_TASK_ID
from langgraph.checkpoint.base import BaseCheckpointSaver, writes_sort_key
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from waypoint.persistence.at_rest import checkpoint_serializer
from waypoint.persistence.observed_savers import ObservedPostgresSaver, ObservedSqliteSaver
from waypoint.persistence.sql import Database, Params, Row, Statement
from waypoint.persistence.stores import Stores


@dataclass(frozen=True)
class CheckpointLink:
    """One checkpoint's place in the thread: enough to draw the tree of branches."""

    checkpoint_id: str
    parent_id: str | None
    metadata: dict[str, Any]
    """LangGraph's checkpoint metadata (`source`, `step`, and what the run's config added)."""
    checkpoint_ns: str = ""
    """The namespace of the graph that saved it: `""` for the thread's graph, `NODE:TASK_ID` for
    a subgraph (read by `links_where`; the other readers read the thread's graph only)."""


@dataclass(frozen=True)
class StoredWrite:
    """A write a task made from a checkpoint (one of its super-step's pending writes)."""

    task_id: str
    task_path: str
    channel: str
    value: Any
    """Decoded for interrupts only; None for every other channel (not needed, not read)."""


@dataclass(frozen=True)
class StoredCheckpoint:
    """A saved checkpoint as LangGraph's `CheckpointTuple` would carry it."""

    link: CheckpointLink
    checkpoint: dict[str, Any]
    """LangGraph's `Checkpoint`: `v`, `ts`, `channel_versions`, `versions_seen`, and
    `channel_values` decoded (without the channels that hold no value)."""
    writes: list[StoredWrite]
    """The writes that tell something about a history row, in the order LangGraph applies
    them (`writes_sort_key`): all those of a task that asked a question (its interrupts, and
    whether it went on to finish), and run input (`NULL_TASK_ID`). No other write is read."""


class CheckpointTables(Protocol):
    """The reads time travel makes from one saver's tables (root namespace only)."""

    async def links(self, thread_id: str) -> list[CheckpointLink]:
        """Every checkpoint of the thread, newest first (the order of `alist`)."""
        ...

    async def links_where(
        self, thread_id: str, key: str, values: Collection[str]
    ) -> list[CheckpointLink]:
        """The checkpoints whose metadata `key` is one of `values`, newest first."""
        ...

    async def read(
        self, thread_id: str, checkpoint_ids: Collection[str] | None
    ) -> list[StoredCheckpoint]:
        """The saved checkpoints, newest first: those of `checkpoint_ids`, or all if None."""
        ...


def tables_in(db: Database) -> CheckpointTables:
    """A reader of the checkpoint tables a LangGraph saver of `db`'s kind keeps in `db`.

    For checkpoints a saver other than the stores' wrote there (a server's, on the same
    database); reading raises the database's error for a missing table if none did. Values are
    decoded as Waypoint's savers decode them (`checkpoint_serializer`: strict, keys from the
    environment).
    """
    serde = checkpoint_serializer()
    return PostgresTables(db, serde) if db.kind == "postgres" else SqliteTables(db, serde)


def tables_for(stores: Stores) -> CheckpointTables | None:
    """The table reader of the stores' saver; None for a saver whose tables are not known here.

    Exact types only: a subclass may store things differently (e.g. the shallow savers); the
    observed savers store exactly as the savers they extend.
    """
    saver: BaseCheckpointSaver[Any] = stores.checkpointer
    if type(saver) in (AsyncPostgresSaver, ObservedPostgresSaver) and stores.db.kind == "postgres":
        assert isinstance(saver, AsyncPostgresSaver)
        return PostgresTables(stores.db, saver.serde)
    if type(saver) in (AsyncSqliteSaver, ObservedSqliteSaver) and stores.db.kind == "sqlite":
        return SqliteTables(stores.db, saver.serde)
    return None


def _telling_writes(table: str, blob: str, where: str) -> str:
    """SQL for the writes `StoredCheckpoint.writes` keeps (`where` filters the outer `w`)."""
    return (
        f"SELECT w.checkpoint_id, w.task_id, w.task_path, w.idx, w.channel, w.type, "
        f"CASE WHEN w.channel = :interrupt THEN w.{blob} END AS blob FROM {table} w "
        f"WHERE {where} AND (w.task_id = :null_task OR EXISTS (SELECT 1 FROM {table} i "
        "WHERE i.thread_id = w.thread_id AND i.checkpoint_ns = w.checkpoint_ns "
        "AND i.checkpoint_id = w.checkpoint_id AND i.task_id = w.task_id "
        "AND i.channel = :interrupt))"
    )


WRITES_PARAMS = {"interrupt": INTERRUPT, "null_task": NULL_TASK_ID}


def _writes(rows: list[Row], serde: SerializerProtocol) -> dict[str, list[StoredWrite]]:
    """Writes by checkpoint id, sorted as LangGraph applies them; only interrupts decoded."""
    rows = sorted(rows, key=lambda r: writes_sort_key(r["task_path"], r["task_id"], r["idx"]))
    found: dict[str, list[StoredWrite]] = {}
    for row in rows:
        value = None
        if row["channel"] == INTERRUPT:
            value = serde.loads_typed((row["type"], row["blob"]))
        found.setdefault(row["checkpoint_id"], []).append(
            StoredWrite(row["task_id"], row["task_path"], row["channel"], value)
        )
    return found


class _LinkReader:
    """What both savers' tables share: `checkpoints` rows with ids, parent and metadata."""

    METADATA: str
    """SQL reading the metadata column as JSON text."""

    def __init__(self, db: Database, serde: SerializerProtocol) -> None:
        """Read through Waypoint's handle on the saver's database; decode with its serde."""
        self.db = db
        self.serde = serde

    def _metadata_is_one_of(self, key: str, values: Collection[str]) -> Statement:
        """SQL condition (and its parameters): metadata `key` is one of `values`."""
        raise NotImplementedError

    async def links(self, thread_id: str) -> list[CheckpointLink]:
        """Every checkpoint of the thread, newest first."""
        return await self._links("TRUE", None, thread_id=thread_id)

    async def links_where(
        self, thread_id: str, key: str, values: Collection[str]
    ) -> list[CheckpointLink]:
        """The checkpoints whose metadata `key` is one of `values`, newest first.

        Subgraphs' checkpoints too (a run's metadata reaches them): each names its namespace.
        """
        return await self._links(
            *self._metadata_is_one_of(key, values), thread_id=thread_id, every_namespace=True
        )

    async def _links(
        self, condition: str, params: Params, *, thread_id: str, every_namespace: bool = False
    ) -> list[CheckpointLink]:
        namespace = "" if every_namespace else "AND checkpoint_ns = '' "
        rows = await self.db.fetchall(
            f"SELECT checkpoint_id, parent_checkpoint_id, checkpoint_ns, {self.METADATA} "
            f"AS metadata FROM checkpoints WHERE thread_id = :thread_id {namespace}"
            f"AND {condition} ORDER BY checkpoint_id DESC",
            {**(params or {}), "thread_id": thread_id},
        )
        return [
            CheckpointLink(
                r["checkpoint_id"],
                r["parent_checkpoint_id"],
                _metadata(r["metadata"]),
                str(r["checkpoint_ns"] or ""),
            )
            for r in rows
        ]


class PostgresTables(_LinkReader):
    """`AsyncPostgresSaver`'s tables.

    `checkpoints` (JSONB, primitive values inline), `checkpoint_blobs` (the other values, one
    row per channel version), `checkpoint_writes`.
    """

    METADATA = "metadata::text"  # JSONB as text, parsed with orjson (3x psycopg's loader)

    def _metadata_is_one_of(self, key: str, values: Collection[str]) -> Statement:
        return "metadata ->> :key = ANY(:values)", {"key": key, "values": list(values)}

    async def read(
        self, thread_id: str, checkpoint_ids: Collection[str] | None
    ) -> list[StoredCheckpoint]:
        """The checkpoints (values joined from their blobs), newest first, and their writes."""
        where = "w.thread_id = :thread_id AND w.checkpoint_ns = ''"
        params: dict[str, Any] = {"thread_id": thread_id, **WRITES_PARAMS}
        if checkpoint_ids is not None:
            where += " AND w.checkpoint_id = ANY(:ids)"
            params["ids"] = list(checkpoint_ids)
        # JSON as text, parsed here: psycopg's default loader (`json.loads`) is 3x slower.
        saved = await self.db.fetchall(
            "SELECT w.checkpoint_id, w.parent_checkpoint_id, w.metadata::text AS metadata, "
            f"w.checkpoint::text AS checkpoint FROM checkpoints w WHERE {where} "
            "ORDER BY w.checkpoint_id DESC",
            params,
        )
        writes = _writes(
            await self.db.fetchall(_telling_writes("checkpoint_writes", "blob", where), params),
            self.serde,
        )
        checkpoints = [orjson.loads(r["checkpoint"]) for r in saved]
        blobs = await self._blobs(thread_id, None if checkpoint_ids is None else checkpoints)
        found: list[StoredCheckpoint] = []
        for row, checkpoint in zip(saved, checkpoints, strict=True):
            # as the saver's `_load_checkpoint_tuple`: inline values, then those of the blobs
            values = checkpoint.get("channel_values") or {}
            versions = checkpoint["channel_versions"]
            for channel, by_version in blobs.items():
                version = versions.get(channel)
                if version is not None and (value := by_version.get(str(version))):
                    values[channel] = value[0]
            checkpoint["channel_values"] = values
            link = CheckpointLink(
                row["checkpoint_id"], row["parent_checkpoint_id"], orjson.loads(row["metadata"])
            )
            found.append(StoredCheckpoint(link, checkpoint, writes.get(link.checkpoint_id, [])))
        return found

    async def _blobs(
        self, thread_id: str, checkpoints: list[dict[str, Any]] | None
    ) -> dict[str, dict[str, tuple[Any]]]:
        """Decoded blob values by channel and version: those the checkpoints point at, or all.

        Each blob is decoded once however many checkpoints share it; `empty` ones are left out.
        A value comes wrapped in a 1-tuple, so that a stored None is told from no blob.
        """
        sql = (
            "SELECT channel, version, type, blob FROM checkpoint_blobs "
            "WHERE thread_id = :thread_id AND checkpoint_ns = '' AND type <> 'empty'"
        )
        params: dict[str, Any] = {"thread_id": thread_id}
        if checkpoints is not None:
            wanted = {
                (channel, str(version))
                for checkpoint in checkpoints
                for channel, version in checkpoint["channel_versions"].items()
                if channel not in (checkpoint.get("channel_values") or {})
            }
            if not wanted:
                return {}
            sql += (
                " AND (channel, version) IN "
                "(SELECT * FROM unnest(CAST(:channels AS text[]), CAST(:versions AS text[])))"
            )
            params["channels"], params["versions"] = (list(c) for c in zip(*wanted, strict=True))
        found: dict[str, dict[str, tuple[Any]]] = {}
        for r in await self.db.fetchall(sql, params):
            value = self.serde.loads_typed((r["type"], r["blob"]))
            found.setdefault(r["channel"], {})[r["version"]] = (value,)
        return found


class SqliteTables(_LinkReader):
    """`AsyncSqliteSaver`'s tables.

    `checkpoints` (the whole checkpoint serialised in one column, metadata as JSON), `writes`.
    """

    METADATA = "metadata"  # JSON text

    def _metadata_is_one_of(self, key: str, values: Collection[str]) -> Statement:
        # as the saver's own metadata filter: JSON text, read with json_extract
        return (
            "json_extract(CAST(metadata AS TEXT), '$.' || :key) "
            "IN (SELECT value FROM json_each(:values))",
            {"key": key, "values": json.dumps(list(values))},
        )

    async def read(
        self, thread_id: str, checkpoint_ids: Collection[str] | None
    ) -> list[StoredCheckpoint]:
        """The checkpoints (decoded whole: values are stored inside), newest first, and writes."""
        where = "w.thread_id = :thread_id AND w.checkpoint_ns = ''"
        params: dict[str, Any] = {"thread_id": thread_id, **WRITES_PARAMS}
        if checkpoint_ids is not None:
            where += " AND w.checkpoint_id IN (SELECT value FROM json_each(:ids))"
            params["ids"] = json.dumps(list(checkpoint_ids))
        saved = await self.db.fetchall(
            "SELECT w.checkpoint_id, w.parent_checkpoint_id, w.metadata, w.type, w.checkpoint "
            f"FROM checkpoints w WHERE {where} ORDER BY w.checkpoint_id DESC",
            params,
        )
        writes = _writes(
            await self.db.fetchall(_telling_writes("writes", "value", where), params), self.serde
        )
        return [
            StoredCheckpoint(
                CheckpointLink(
                    r["checkpoint_id"], r["parent_checkpoint_id"], _metadata(r["metadata"])
                ),
                self.serde.loads_typed((r["type"], r["checkpoint"])),
                writes.get(r["checkpoint_id"], []),
            )
            for r in saved
        ]


def _metadata(saved: bytes | str | None) -> dict[str, Any]:
    """Metadata read as JSON text (SQLite stores it so; Postgres' JSONB is read as text)."""
    return orjson.loads(saved) if saved is not None else {}

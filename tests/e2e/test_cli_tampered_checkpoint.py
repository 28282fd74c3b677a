"""A checkpoint blob crafted by whoever can write to the database runs no code in `waypoint`.

The thread is written by the real CLI; its latest checkpoint is then changed with plain
`sqlite3` / `psycopg`: the `lookup` value gets a msgpack extension that names `os.system`,
which LangGraph's permissive serializer imports and calls while reading (it would create a
marker file). The CLI runs without `LANGGRAPH_STRICT_MSGPACK` (the user's default) and with it
set to `false`: `show`, `status`, `history` and `resume` must neither run it nor crash.
`test_the_payload_runs_code_under_a_permissive_serializer` shows the payload is live.
"""

from __future__ import annotations

import json
import shlex
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

import ormsgpack
import psycopg
import pytest
from langgraph.checkpoint.serde.jsonplus import EXT_CONSTRUCTOR_POS_ARGS, JsonPlusSerializer

from tests.conftest import waypoint_cli
from tests.helpers import demo_input, is_sqlite, sqlite_path
from waypoint.persistence.at_rest import checkpoint_serializer

APPROVAL = demo_input("approval needed")  # waits at approval, with a `lookup` value stored
READER = JsonPlusSerializer(allowed_msgpack_modules=None)  # to rewrite the real rows


def exploit(marker: Path) -> ormsgpack.Ext:
    """A msgpack extension that, read permissively, calls `os.system("touch MARKER")`."""
    command = f"touch {shlex.quote(str(marker))}"
    return ormsgpack.Ext(EXT_CONSTRUCTOR_POS_ARGS, ormsgpack.packb(("os", "system", [command])))


def plant(value: dict[str, Any], marker: Path) -> dict[str, Any]:
    """The `lookup` value with the exploit beside its real fields."""
    assert value["customer"]["customer_id"] == "C-200", value
    return {**value, "note": exploit(marker)}


def tamper_latest_checkpoint(db_url: str, thread_id: str, marker: Path) -> None:
    """Plant the exploit in the `lookup` value of the thread's latest checkpoint."""
    if is_sqlite(db_url):
        with closing(sqlite3.connect(sqlite_path(db_url))) as conn:
            checkpoint_id, type_, blob = conn.execute(
                "SELECT checkpoint_id, type, checkpoint FROM checkpoints WHERE thread_id = ? "
                "AND checkpoint_ns = '' ORDER BY checkpoint_id DESC LIMIT 1",
                (thread_id,),
            ).fetchone()
            checkpoint = READER.loads_typed((type_, blob))
            values = checkpoint["channel_values"]
            values["lookup"] = plant(values["lookup"], marker)
            new_type, new_blob = READER.dumps_typed(checkpoint)
            changed = conn.execute(
                "UPDATE checkpoints SET type = ?, checkpoint = ? WHERE thread_id = ? "
                "AND checkpoint_ns = '' AND checkpoint_id = ?",
                (new_type, new_blob, thread_id, checkpoint_id),
            ).rowcount
            conn.commit()
    else:
        with psycopg.connect(db_url, autocommit=True) as pg:
            row = pg.execute(
                "SELECT checkpoint -> 'channel_versions' ->> 'lookup' FROM checkpoints "
                "WHERE thread_id = %s AND checkpoint_ns = '' ORDER BY checkpoint_id DESC LIMIT 1",
                (thread_id,),
            ).fetchone()
            assert row is not None
            version = row[0]
            type_, blob = pg.execute(
                "SELECT type, blob FROM checkpoint_blobs WHERE thread_id = %s "
                "AND checkpoint_ns = '' AND channel = 'lookup' AND version = %s",
                (thread_id, version),
            ).fetchone() or (None, None)
            new_type, new_blob = READER.dumps_typed(
                plant(READER.loads_typed((type_, blob)), marker)
            )
            changed = pg.execute(
                "UPDATE checkpoint_blobs SET type = %s, blob = %s WHERE thread_id = %s "
                "AND checkpoint_ns = '' AND channel = 'lookup' AND version = %s",
                (new_type, new_blob, thread_id, version),
            ).rowcount
    assert changed == 1


def test_the_payload_runs_code_under_a_permissive_serializer(tmp_path: Path) -> None:
    """The exploit is live: LangGraph's permissive serializer runs it, Waypoint's does not."""
    marker = tmp_path / "pwned"
    stored = READER.dumps_typed({"note": exploit(marker)})

    checkpoint_serializer(None).loads_typed(stored)
    assert not marker.exists()

    JsonPlusSerializer(allowed_msgpack_modules=True).loads_typed(stored)
    assert marker.exists()


@pytest.mark.parametrize("strict_env", ["unset", "false"])
def test_a_crafted_checkpoint_runs_no_code(db_url: str, tmp_path: Path, strict_env: str) -> None:
    marker = tmp_path / "pwned"
    env = {} if strict_env == "unset" else {"LANGGRAPH_STRICT_MSGPACK": strict_env}
    unset = ("LANGGRAPH_STRICT_MSGPACK",) if strict_env == "unset" else ()

    def cli(*args: str) -> tuple[int, str, str]:
        done = waypoint_cli(*args, "--db", db_url, env=env, unset=unset)
        return done.returncode, done.stdout, done.stderr

    thread = f"tampered-{uuid.uuid4().hex[:10]}"
    code, out, err = cli("run", "support", "--input", json.dumps(APPROVAL), "--thread", thread)
    assert code == 3, (out, err)
    tamper_latest_checkpoint(db_url, thread, marker)

    for args, expected in (
        (("show", thread), 0),
        (("status", thread, "--json"), 3),
        (("history", thread), 0),
        (("resume", thread, "--approve", "--json"), 0),
    ):
        code, out, err = cli(*args)
        assert not marker.exists(), f"`waypoint {args[0]}` ran code from the database"
        assert "Traceback" not in err, (args, err)
        assert code == expected, (args, out, err)
        if args[0] == "status":
            assert json.loads(out)["status"] == "waiting"
        if args[0] == "resume":
            assert json.loads(out)["status"] == "completed"

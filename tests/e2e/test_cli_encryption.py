"""Encryption at rest through the real `waypoint` command, on SQLite and Postgres.

With a key, no checkpoint, blob or pending write holds the customer's email address or words
(read back with plain `sqlite3` / `psycopg`), yet `status`, `show` and `resume` work. Without
the key, or with another one, commands fail with one line that names the problem (exit 2).
Rotation: a thread written with key A is read and continued under "B,A", its new rows written
with B; once A is dropped, reading a checkpoint A wrote names A's id.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

import psycopg

from tests.conftest import waypoint_cli
from tests.helpers import demo_input, is_sqlite, sqlite_path

APPROVAL = demo_input("approval needed")  # customer C-200, waits at approval
EMAIL = b"grace@example.com"  # C-200's address in nodes/support/crm_data.json
WORDS = b"The chair I ordered is damaged"  # the ticket's message


def new_key() -> tuple[bytes, str]:
    """32 random bytes and the id Waypoint stores with what they encrypt."""
    secret = os.urandom(32)
    return secret, hashlib.sha256(secret).hexdigest()[:8]


def b64(secret: bytes) -> str:
    return base64.b64encode(secret).decode()


def stored(db_url: str, thread_id: str) -> tuple[list[bytes], list[str]]:
    """Every checkpoint, blob and write of the thread as raw bytes, and the value types."""
    if is_sqlite(db_url):
        with closing(sqlite3.connect(sqlite_path(db_url))) as conn:
            checkpoints = conn.execute(
                "SELECT type, checkpoint, metadata FROM checkpoints WHERE thread_id = ?",
                (thread_id,),
            ).fetchall()
            writes = conn.execute(
                "SELECT type, value FROM writes WHERE thread_id = ?", (thread_id,)
            ).fetchall()
        raw = [bytes(r[1]) for r in checkpoints + writes] + [bytes(r[2]) for r in checkpoints]
        return raw, [r[0] for r in checkpoints + writes]
    with psycopg.connect(db_url, autocommit=True) as pg:
        inline = pg.execute(
            "SELECT checkpoint::text, metadata::text FROM checkpoints WHERE thread_id = %s",
            (thread_id,),
        ).fetchall()
        blobs = pg.execute(
            "SELECT type, blob FROM checkpoint_blobs WHERE thread_id = %s AND type <> 'empty' "
            "UNION ALL SELECT type, blob FROM checkpoint_writes WHERE thread_id = %s",
            (thread_id, thread_id),
        ).fetchall()
    raw = [part.encode() for row in inline for part in row] + [bytes(r[1]) for r in blobs]
    return raw, [r[0] for r in blobs]


def key_ids(types: list[str]) -> set[str | None]:
    """The key id of each stored type (`msgpack+aesgcm-1a2b3c4d`), None for a plain value."""
    return {t.split("+aesgcm-")[1] if "+aesgcm-" in t else None for t in types}


def cli(
    db_url: str, *args: str, keys: str | None = None, key_file: Path | None = None
) -> tuple[int, str, str]:
    env = {}
    if keys is not None:
        env["WAYPOINT_ENCRYPTION_KEY"] = keys
    if key_file is not None:
        env["WAYPOINT_ENCRYPTION_KEY_FILE"] = str(key_file)
    unset = tuple(
        name
        for name in ("WAYPOINT_ENCRYPTION_KEY", "WAYPOINT_ENCRYPTION_KEY_FILE")
        if name not in env
    )
    done = waypoint_cli(*args, "--db", db_url, env=env, unset=unset)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout, done.stderr


def test_encrypted_thread_hides_the_customer_and_rotates(db_url: str, tmp_path: Path) -> None:
    key_a, id_a = new_key()
    key_b, id_b = new_key()
    thread = f"enc-{uuid.uuid4().hex[:10]}"

    code, out, err = cli(
        db_url, "run", "support", "--input", json.dumps(APPROVAL), "--thread", thread,
        keys=b64(key_a),
    )  # fmt: skip
    assert code == 3, (out, err)
    raw, types = stored(db_url, thread)
    assert raw and types
    assert not [r for r in raw if EMAIL in r or WORDS in r]
    assert key_ids(types) == {id_a}, types  # every checkpoint value and pending write

    code, out, _ = cli(db_url, "status", thread, "--json", keys=b64(key_a))
    assert code == 3 and json.loads(out)["status"] == "waiting"
    code, out, _ = cli(db_url, "show", thread, "--json", keys=b64(key_a))
    assert code == 0 and json.loads(out)["values"]["lookup"]["customer"]["customer_id"] == "C-200"

    code, out, err = cli(db_url, "status", thread)  # no key at all
    assert code == 2 and out == "", (out, err)
    assert err.strip().count("\n") == 0 and "no key is configured" in err, err

    code, out, err = cli(db_url, "show", thread, keys=key_b.hex())  # another key only (hex)
    assert code == 2 and out == "", (out, err)
    assert f"encrypted with key {id_a}, which is not configured" in err, err

    key_file = tmp_path / "keys"
    key_file.write_text(f"# new key first\n{b64(key_b)}\n{key_a.hex()}\n")
    code, out, err = cli(db_url, "resume", thread, "--approve", "--json", key_file=key_file)
    assert code == 0 and json.loads(out)["status"] == "completed", (out, err)
    raw, types = stored(db_url, thread)
    assert key_ids(types) == {id_a, id_b}, types  # old rows as written, new ones with B
    assert not [r for r in raw if EMAIL in r or WORDS in r]
    code, out, _ = cli(db_url, "status", thread, "--json", keys=f"{b64(key_b)},{b64(key_a)}")
    assert code == 0 and json.loads(out)["status"] == "completed"

    history = cli(db_url, "history", thread, "--json", keys=f"{b64(key_b)},{b64(key_a)}")[1]
    first = json.loads(history)["checkpoints"][-1]["checkpoint_id"]  # written with A
    code, out, err = cli(db_url, "show", thread, "--checkpoint", first, keys=b64(key_b))
    assert code == 2 and f"encrypted with key {id_a}" in err, err  # A dropped too soon


def test_plain_threads_stay_readable_once_a_key_is_set(db_url: str) -> None:
    key, key_id = new_key()
    thread = f"enc-plain-{uuid.uuid4().hex[:10]}"
    code, out, err = cli(
        db_url, "run", "support", "--input", json.dumps(APPROVAL), "--thread", thread
    )
    assert code == 3, (out, err)
    _, types = stored(db_url, thread)
    assert key_ids(types) == {None}

    code, out, _ = cli(db_url, "status", thread, "--json", keys=b64(key))
    assert code == 3 and json.loads(out)["status"] == "waiting"
    code, out, err = cli(db_url, "resume", thread, "--approve", "--json", keys=b64(key))
    assert code == 0 and json.loads(out)["status"] == "completed", (out, err)
    _, types = stored(db_url, thread)
    assert key_ids(types) == {None, key_id}


def test_a_malformed_key_is_bad_input_and_creates_nothing(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'new' / 'waypoint.sqlite'}"
    code, out, err = cli(
        db_url, "run", "support", "--input", json.dumps(APPROVAL), keys="not-a-key!"
    )
    assert code == 2, (out, err)
    assert "WAYPOINT_ENCRYPTION_KEY" in err and "16, 24 or 32 bytes" in err, err
    assert "not-a-key" not in err  # a key is never printed, even a broken one
    assert not (tmp_path / "new").exists()

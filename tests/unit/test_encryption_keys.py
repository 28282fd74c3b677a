"""Encryption keys: where they come from, how they are checked, and the cipher that uses them."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from waypoint.encryption import (
    KEY_ENV,
    KEY_FILE_ENV,
    EncryptionKeyError,
    KeyRing,
    configured_keys,
    key_ring,
)
from waypoint.errors import BadInput
from waypoint.persistence.at_rest import StoredApart, StrictSerializer, checkpoint_serializer

SECRET_A = bytes(range(32))
SECRET_B = bytes(range(100, 116))  # 16 bytes: AES-128
ID_A = hashlib.sha256(SECRET_A).hexdigest()[:8]
ID_B = hashlib.sha256(SECRET_B).hexdigest()[:8]


@pytest.mark.parametrize(
    "text",
    [
        SECRET_A.hex(),
        SECRET_A.hex().upper(),
        base64.b64encode(SECRET_A).decode(),
        base64.urlsafe_b64encode(SECRET_A).decode().rstrip("="),
        f"  {SECRET_A.hex()}\n",
    ],
)
def test_a_key_is_hex_or_base64(text: str) -> None:
    [key] = configured_keys({KEY_ENV: text})
    assert (key.secret, key.key_id) == (SECRET_A, ID_A)
    assert SECRET_A.hex() not in repr(key)


@pytest.mark.parametrize(
    ("text", "got"),
    [
        ("not a key", "not hex or base64"),
        (base64.b64encode(bytes(20)).decode(), "20 bytes"),
        (bytes(8).hex(), "8 bytes"),
    ],
)
def test_a_malformed_key_names_the_variable_and_the_format(text: str, got: str) -> None:
    with pytest.raises(BadInput) as caught:
        configured_keys({KEY_ENV: f"{SECRET_A.hex()},{text}"})
    message = str(caught.value)
    assert message.startswith(f"{KEY_ENV} (key 2 of 2): expected 16, 24 or 32 bytes")
    assert message.endswith(f"got {got}")
    assert caught.value.field == KEY_ENV and caught.value.exit_code == 2
    assert SECRET_A.hex() not in message


def test_no_key_means_no_encryption() -> None:
    assert configured_keys({}) == [] and key_ring({}) is None
    assert not isinstance(checkpoint_serializer(None), EncryptedSerializer)


def test_several_keys_from_the_variable_or_a_file(tmp_path: Path) -> None:
    inline = configured_keys({KEY_ENV: f"{SECRET_B.hex()}, {SECRET_A.hex()}"})
    assert [k.key_id for k in inline] == [ID_B, ID_A]

    key_file = tmp_path / "keys"
    key_file.write_text(f"# rotated 2026-12\n{SECRET_B.hex()}\n\n{SECRET_A.hex()}\n")
    assert [k.key_id for k in configured_keys({KEY_FILE_ENV: str(key_file)})] == [ID_B, ID_A]


def test_conflicting_or_unreadable_key_settings_are_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="are both set"):
        configured_keys({KEY_ENV: SECRET_A.hex(), KEY_FILE_ENV: str(tmp_path / "keys")})
    with pytest.raises(BadInput, match=f"{KEY_FILE_ENV}: cannot read"):
        configured_keys({KEY_FILE_ENV: str(tmp_path / "missing")})
    (tmp_path / "empty").write_text("# nothing yet\n")
    with pytest.raises(BadInput, match="holds no key"):
        configured_keys({KEY_FILE_ENV: str(tmp_path / "empty")})
    with pytest.raises(BadInput, match="listed twice"):
        configured_keys({KEY_ENV: f"{SECRET_A.hex()},{base64.b64encode(SECRET_A).decode()}"})


def test_the_key_ring_encrypts_with_the_first_and_decrypts_with_any() -> None:
    old = KeyRing(configured_keys({KEY_ENV: SECRET_A.hex()}))
    rotated = KeyRing(configured_keys({KEY_ENV: f"{SECRET_B.hex()},{SECRET_A.hex()}"}))
    name, sealed = old.encrypt(b"grace@example.com")
    assert name == f"aesgcm-{ID_A}" and b"grace" not in sealed
    assert rotated.decrypt(name, sealed) == b"grace@example.com"
    assert rotated.encrypt(b"x")[0] == f"aesgcm-{ID_B}"
    assert old.encrypt(b"same")[1] != old.encrypt(b"same")[1]  # a fresh nonce each time

    with pytest.raises(EncryptionKeyError, match=f"encrypted with key {ID_B}, which is not"):
        old.decrypt(*rotated.encrypt(b"x"))
    altered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(EncryptionKeyError, match="fails its integrity check"):
        rotated.decrypt(name, altered)
    with pytest.raises(EncryptionKeyError, match="another program"):
        rotated.decrypt("aes", sealed)  # LangGraph's own pycryptodome cipher name


def test_the_serializer_is_langgraphs_encrypted_one_and_names_a_missing_key() -> None:
    ring = KeyRing(configured_keys({KEY_ENV: SECRET_A.hex()}))
    serde = checkpoint_serializer(ring)
    assert isinstance(serde, EncryptedSerializer)
    type_, data = serde.dumps_typed({"email": "grace@example.com"})
    assert type_ == f"msgpack+aesgcm-{ID_A}" and b"grace" not in data
    assert serde.loads_typed((type_, data)) == {"email": "grace@example.com"}
    plain = checkpoint_serializer(None).dumps_typed({"a": 1})
    assert serde.loads_typed(plain) == {"a": 1}  # written before encryption was on
    assert serde.dumps_typed(StoredApart("words")) == (serde.dumps_typed("words")[0], ANY_BYTES)

    with pytest.raises(EncryptionKeyError, match="no key is configured"):
        checkpoint_serializer(None).loads_typed((type_, data))


class _AnyBytes(bytes):
    def __eq__(self, other: object) -> bool:
        return isinstance(other, bytes)

    __hash__ = bytes.__hash__


ANY_BYTES = _AnyBytes()


def test_langgraphs_allowlist_keeps_waypoints_serializer() -> None:
    """Drift: under LANGGRAPH_STRICT_MSGPACK LangGraph clones the saver's serializer with the
    graph's schema types allowed; the clone must still be strict and still encrypt."""
    ring = KeyRing(configured_keys({KEY_ENV: SECRET_A.hex()}))
    for serde in (checkpoint_serializer(None), checkpoint_serializer(ring)):
        saver = AsyncSqliteSaver.__new__(AsyncSqliteSaver)
        saver.serde = serde
        clone = saver.with_allowlist({("state.support", "Customer")})
        assert clone is not saver
        inner = clone.serde.serde if isinstance(clone.serde, EncryptedSerializer) else clone.serde
        assert isinstance(inner, StrictSerializer)
        assert type(clone.serde) is type(serde)
        if isinstance(serde, EncryptedSerializer):
            assert isinstance(clone.serde, EncryptedSerializer) and clone.serde.cipher is ring

"""Encryption keys for data at rest, and the AES-GCM cipher that uses them.

Keys come from the environment, from exactly one of:

- `WAYPOINT_ENCRYPTION_KEY`: one key, or several separated by commas;
- `WAYPOINT_ENCRYPTION_KEY_FILE`: a file with one key per line (blank lines and lines starting
  with `#` are skipped).

A key is 16, 24 or 32 random bytes, written as hex (`openssl rand -hex 32`) or base64
(`openssl rand -base64 32`). The first key encrypts; every key listed decrypts. Each value is
stored with the id of the key that wrote it (the first 8 hex digits of the key's SHA-256), so
rotating is: put the new key first, keep the old ones after it for as long as anything they
wrote is kept. `KeyRing` is a LangGraph `CipherProtocol`, so LangGraph's `EncryptedSerializer`
(and any server that takes one) can use it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from Crypto.Cipher import AES
from Crypto.Random import get_random_bytes
from langgraph.checkpoint.serde.base import CipherProtocol

from waypoint.errors import BadInput, WaypointError

KEY_ENV = "WAYPOINT_ENCRYPTION_KEY"
"""One key, or several separated by commas; the first encrypts."""

KEY_FILE_ENV = "WAYPOINT_ENCRYPTION_KEY_FILE"
"""A file with one key per line; the first encrypts."""

CIPHER_PREFIX = "aesgcm-"
"""Cipher names are `aesgcm-<key id>`; LangGraph's `EncryptedSerializer` stores them in the
value's type (`msgpack+aesgcm-1a2b3c4d`)."""

KEY_SIZES = (16, 24, 32)
NONCE_SIZE = 12
TAG_SIZE = 16
_HEX = re.compile(r"[0-9a-fA-F]+")
_FORMAT = "16, 24 or 32 bytes written as hex or base64 (make one with `openssl rand -base64 32`)"


class EncryptionKeyError(WaypointError):
    """Encrypted data cannot be read with the keys configured (none, or not the one that wrote it).

    Exit code 2: the fix is configuration, and nothing was written.
    """

    exit_code = 2


@dataclass(frozen=True)
class EncryptionKey:
    """One AES key and the short id stored beside everything it encrypts."""

    key_id: str
    """First 8 hex digits of the key's SHA-256: names the key without revealing it."""
    secret: bytes = field(repr=False)


def parse_key(text: str, *, where: str) -> EncryptionKey:
    """A key from its hex or base64 text; `where` names its source in the error.

    Raises:
        BadInput: not hex or base64 of 16, 24 or 32 bytes.
    """
    text = text.strip()
    secret: bytes | None = None
    if _HEX.fullmatch(text) and len(text) % 2 == 0:  # base64 of a key all but never is
        secret = bytes.fromhex(text)
    else:
        try:
            padded = text + "=" * (-len(text) % 4)
            secret = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            secret = None
    if secret is None or len(secret) not in KEY_SIZES:
        got = "not hex or base64" if secret is None else f"{len(secret)} bytes"
        raise BadInput(f"{where}: expected {_FORMAT}; got {got}", field=where.split()[0])
    return EncryptionKey(hashlib.sha256(secret).hexdigest()[:8], secret)


def _key_texts(environ: Mapping[str, str]) -> tuple[list[str], str]:
    """The key texts configured, and the variable they came from."""
    inline, path = environ.get(KEY_ENV, "").strip(), environ.get(KEY_FILE_ENV, "").strip()
    if inline and path:
        raise BadInput(f"{KEY_ENV} and {KEY_FILE_ENV} are both set: keep one", field=KEY_ENV)
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            message = f"{KEY_FILE_ENV}: cannot read {path}: {exc}"
            raise BadInput(message, field=KEY_FILE_ENV) from exc
        texts = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        if not texts:
            raise BadInput(f"{KEY_FILE_ENV}: {path} holds no key", field=KEY_FILE_ENV)
        return texts, KEY_FILE_ENV
    return [part.strip() for part in inline.split(",") if part.strip()], KEY_ENV


def configured_keys(environ: Mapping[str, str] | None = None) -> list[EncryptionKey]:
    """The keys of `WAYPOINT_ENCRYPTION_KEY` or `WAYPOINT_ENCRYPTION_KEY_FILE`, first one first.

    Empty when neither is set: nothing is encrypted.

    Raises:
        BadInput: both are set, the file cannot be read, a key is malformed, or a key is listed
            twice.
    """
    texts, source = _key_texts(os.environ if environ is None else environ)
    keys = [
        parse_key(text, where=f"{source} (key {number} of {len(texts)})")
        for number, text in enumerate(texts, start=1)
    ]
    ids = [key.key_id for key in keys]
    if len(set(ids)) != len(ids):
        raise BadInput(f"{source}: the same key is listed twice", field=source)
    return keys


class KeyRing(CipherProtocol):
    """AES-GCM under the first key; decrypts with whichever listed key wrote a value.

    Ciphertext layout: 12-byte nonce, 16-byte tag, then the encrypted bytes. The key id is
    authenticated with the data (GCM associated data), so a value cannot be passed off as
    written by another key.
    """

    def __init__(self, keys: Sequence[EncryptionKey]) -> None:
        """Encrypt with `keys[0]`; decrypt with any of `keys`."""
        if not keys:
            raise ValueError("KeyRing needs at least one key")
        self.keys = list(keys)
        self._by_id = {key.key_id: key for key in keys}

    @property
    def key_ids(self) -> list[str]:
        """The ids of the keys, the encrypting one first."""
        return [key.key_id for key in self.keys]

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        """Encrypt with the first key; returns (`aesgcm-<key id>`, nonce + tag + ciphertext)."""
        key = self.keys[0]
        nonce = get_random_bytes(NONCE_SIZE)
        cipher = AES.new(key.secret, AES.MODE_GCM, nonce=nonce)
        cipher.update(key.key_id.encode())
        ciphertext, tag = cipher.encrypt_and_digest(plaintext)
        return CIPHER_PREFIX + key.key_id, nonce + tag + ciphertext

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        """Decrypt a value written by `encrypt` with any of the keys.

        Raises:
            EncryptionKeyError: another cipher, a key that is not configured, or data that
                fails its integrity check.
        """
        if not ciphername.startswith(CIPHER_PREFIX):
            raise EncryptionKeyError(
                f"stored data uses cipher {ciphername!r}, which Waypoint does not know: it was "
                "written by another program's serializer"
            )
        key_id = ciphername.removeprefix(CIPHER_PREFIX)
        key = self._by_id.get(key_id)
        if key is None:
            raise EncryptionKeyError(
                f"stored data was encrypted with key {key_id}, which is not configured "
                f"(configured: {', '.join(self.key_ids)}): add that key to {KEY_ENV} or "
                f"{KEY_FILE_ENV}, after the key that encrypts"
            )
        nonce, tag = ciphertext[:NONCE_SIZE], ciphertext[NONCE_SIZE : NONCE_SIZE + TAG_SIZE]
        cipher = AES.new(key.secret, AES.MODE_GCM, nonce=nonce)
        cipher.update(key.key_id.encode())
        try:
            return cipher.decrypt_and_verify(ciphertext[NONCE_SIZE + TAG_SIZE :], tag)
        except ValueError as exc:
            raise EncryptionKeyError(
                f"stored data encrypted with key {key_id} fails its integrity check: it was "
                "altered after it was written"
            ) from exc


def key_ring(environ: Mapping[str, str] | None = None) -> KeyRing | None:
    """The configured keys as a cipher, or None when no key is set (nothing is encrypted).

    Raises:
        BadInput: the key configuration is invalid (see `configured_keys`).
    """
    keys = configured_keys(environ)
    return KeyRing(keys) if keys else None


def no_key_error(ciphername: str) -> EncryptionKeyError:
    """The error for encrypted data met while no key is configured."""
    return EncryptionKeyError(
        f"stored data is encrypted (cipher {ciphername}) but no key is configured: set "
        f"{KEY_ENV} or {KEY_FILE_ENV} to the key that wrote it"
    )

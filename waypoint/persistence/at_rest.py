"""What Waypoint's checkpoint savers write to disk: strict decoding, encryption with a key.

**Strict.** LangGraph's default serializer decides at construction whether a checkpoint may
name any Python callable to import and call while it is read (permissive) or only the types
LangGraph lists as safe (strict), from `LANGGRAPH_STRICT_MSGPACK` as it was when LangGraph was
first imported; the default is permissive. Whoever can write to the database could then run
code in every process that reads a thread. Every saver Waypoint opens is given
`StrictSerializer` instead, so strictness depends neither on the environment nor on import
order. Waypoint's states are plain JSON-like values (see `state/support.py`), which need
nothing beyond the safe list; a value of a type not on it is read back as its stored fields.

**Encrypted.** With a key set (`waypoint.encryption`), the serializer is LangGraph's
`EncryptedSerializer` around the strict one, with Waypoint's `KeyRing` as its cipher: every
checkpoint and pending write is encrypted with AES-GCM, and the value's type records the key
that wrote it (`msgpack+aesgcm-1a2b3c4d`). Values written before a key was set stay readable.
Encrypted data met without a key, or with the wrong keys, is a clear `EncryptionKeyError`.

**Nothing inline.** `AsyncPostgresSaver` keeps `str`, `int`, `float`, `bool` and `None` channel
values inline in the `checkpoints` JSONB column, past the serializer: a ticket's message would
stay readable there. With encryption on, `EncryptsInlineValues` sends those values to the
blobs table too, through the serializer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import Checkpoint, CheckpointMetadata
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from waypoint.encryption import KeyRing, key_ring, no_key_error

_UNSET: Any = object()


@dataclass(frozen=True)
class StoredApart:
    """A plain channel value the Postgres saver must store through the serializer."""

    value: str | int | float | bool | None


class StrictSerializer(JsonPlusSerializer):
    """LangGraph's serializer, reviving only the types LangGraph lists as safe, whatever the env.

    A subclass, so that LangGraph's `with_allowlist` (which adds the graph's own schema types
    when `LANGGRAPH_STRICT_MSGPACK` is on) keeps it. It also unwraps `StoredApart` and names
    the problem when it meets encrypted data with no key configured.
    """

    def __init__(self) -> None:
        """Strict: `allowed_msgpack_modules=None` means LangGraph's safe types only."""
        super().__init__(allowed_msgpack_modules=None)

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        """Serialize (a `StoredApart` as the value it holds)."""
        if isinstance(obj, StoredApart):
            obj = obj.value
        return super().dumps_typed(obj)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        """Deserialize strictly.

        Raises:
            EncryptionKeyError: the value is encrypted (its type is `TYPE+CIPHER`); an
                `EncryptedSerializer` with a key never hands such a value down here.
        """
        type_ = data[0]
        if "+" in type_:
            raise no_key_error(type_.split("+", 1)[1])
        return super().loads_typed(data)


def checkpoint_serializer(keys: KeyRing | None = _UNSET) -> SerializerProtocol:
    """The serializer for every saver Waypoint opens: strict, encrypted when a key is set.

    Args:
        keys: the cipher to encrypt with; by default the keys configured in the environment
            (`waypoint.encryption.key_ring`), None for no encryption.

    Raises:
        BadInput: the key configuration is invalid.
    """
    ring = key_ring() if keys is _UNSET else keys
    strict = StrictSerializer()
    return strict if ring is None else EncryptedSerializer(ring, strict)


def encrypts(serde: SerializerProtocol) -> bool:
    """Whether values written with `serde` are encrypted."""
    return isinstance(serde, EncryptedSerializer)


class EncryptsInlineValues(AsyncPostgresSaver):
    """`AsyncPostgresSaver` that, when its serializer encrypts, inlines no plain value.

    Each `str`/`int`/`float`/`bool`/`None` channel value goes to `checkpoint_blobs` as a blob of
    its channel version, like any other value, and is read back from there by the saver's
    own queries. Unchanged channels are written again under their current version (`ON
    CONFLICT DO NOTHING` keeps an existing blob), so a checkpoint never points at a value that
    was only ever inline.
    """

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: dict[str, Any],
    ) -> RunnableConfig:
        """Save the checkpoint with its plain values moved to blobs when encrypting."""
        if encrypts(self.serde):
            versions = checkpoint["channel_versions"]
            apart = {
                channel: StoredApart(value)
                for channel, value in checkpoint["channel_values"].items()
                if (value is None or isinstance(value, str | int | float | bool))
                and channel in versions
            }
            if apart:
                checkpoint = checkpoint.copy()
                checkpoint["channel_values"] = {**checkpoint["channel_values"], **apart}
                new_versions = {**new_versions, **{ch: versions[ch] for ch in apart}}
        return await super().aput(config, checkpoint, metadata, new_versions)

"""The bytes of one cache file: an envelope-encrypted secret value, and its strict decoder.

A file is JSON ``{"format": 1, "key_id", "wrapped_key", "nonce", "ciphertext"}`` (base64 fields):
AES-256-GCM under a fresh data key, the data key wrapped by a
:class:`~common_plugin.storage.cache_keys.CacheKeyDecryptor`, the ciphertext bound (as associated
data) to the format, the secret's name and the wrapping key's id. The plaintext is JSON
``{"value": <SecretValue fields>, "fetched_at": <epoch seconds>, "generation": <n>}``.

:func:`decode` accepts what :func:`encode` wrote and raises :class:`UnusableCacheFile` for anything
else (never another exception), so a corrupt, hostile or foreign file costs one fetch, not a crash.
Stateless and thread-safe.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
import os
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..credentials import SecretValue
from .cache_keys import CacheKeyDecryptor

__all__ = ["CacheFile", "UnusableCacheFile", "decode", "encode"]

_FORMAT = 1
_AAD_PREFIX = b"managed-credentials cache v1\0"
_TEXT_FIELDS = tuple(f.name for f in dataclasses.fields(SecretValue) if f.name != "version_stages")


class UnusableCacheFile(Exception):
    """A cache file that must be discarded; the message says why, never what it holds."""


class CacheFile(NamedTuple):
    """A decoded cache file: the value, when it was fetched (epoch seconds), and its generation."""

    value: SecretValue
    fetched_at: float
    generation: int


def _aad(secret_name: str, key_id: str) -> bytes:
    """What the ciphertext is bound to: the format, the secret's name and the KEK's id."""
    return _AAD_PREFIX + secret_name.encode("utf-8") + b"\0" + key_id.encode("utf-8")


def encode(
    decryptor: CacheKeyDecryptor, secret_name: str, value: SecretValue, fetched_at: float, generation: int
) -> bytes:
    """The encrypted file for ``value``. Raises whatever the decryptor raises when wrapping fails."""
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    payload = {"value": dataclasses.asdict(value), "fetched_at": fetched_at, "generation": generation}
    key_id = decryptor.key_id
    envelope = {
        "format": _FORMAT,
        "key_id": key_id,
        "wrapped_key": base64.b64encode(decryptor.encrypt_data_key(data_key)).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(
            AESGCM(data_key).encrypt(nonce, json.dumps(payload).encode(), _aad(secret_name, key_id))
        ).decode(),
    }
    return json.dumps(envelope).encode()


def decode(decryptor: CacheKeyDecryptor, secret_name: str, raw: bytes) -> CacheFile:
    """Decrypt and check a file written by :func:`encode` for ``secret_name``.

    Raises:
        UnusableCacheFile: anything else: not JSON, not an object, nested too deeply, wrong types,
            tampered, truncated, wrapped by another key, or another secret's.
    """
    envelope = _json_object(raw)
    if envelope.get("format") != _FORMAT:
        raise UnusableCacheFile("of an unknown format")
    key_id = envelope.get("key_id")
    if not isinstance(key_id, str):
        raise UnusableCacheFile("missing its key id")
    wrapped, nonce, ciphertext = (_base64(envelope, k) for k in ("wrapped_key", "nonce", "ciphertext"))
    try:
        data_key = decryptor.decrypt_data_key(wrapped)
        plaintext = AESGCM(data_key).decrypt(nonce, ciphertext, _aad(secret_name, key_id))
    except Exception:  # noqa: BLE001 - a custom decryptor refuses a foreign key in its own way
        raise UnusableCacheFile("tampered, truncated or from another key") from None
    payload = _json_object(plaintext)
    value = _secret_value(payload.get("value"))
    fetched_at = _finite(payload.get("fetched_at"))
    generation = payload.get("generation", 0)  # files written before generations count as 0
    if fetched_at is None:
        raise UnusableCacheFile("missing its fetch time")
    if not isinstance(generation, int) or isinstance(generation, bool) or generation < 0:
        raise UnusableCacheFile("missing its generation")
    if value.secret_name != secret_name:
        raise UnusableCacheFile("another secret's")
    return CacheFile(value, fetched_at, generation)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        document = json.loads(raw)
    except ValueError:  # also invalid UTF-8
        raise UnusableCacheFile("not valid JSON") from None
    except RecursionError:  # the parser recurses once per nesting level
        raise UnusableCacheFile("JSON nested too deeply") from None
    if not isinstance(document, dict):
        raise UnusableCacheFile("JSON but not an object")
    return document


def _base64(envelope: dict[str, Any], key: str) -> bytes:
    text = envelope.get(key)
    if not isinstance(text, str):
        raise UnusableCacheFile(f"missing its {key}")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        data = None
    # canonical only: the decoder ignores the spare bits of the last character, so an edited file
    # could otherwise decode to the same bytes
    if data is None or base64.b64encode(data).decode() != text:
        raise UnusableCacheFile(f"holding a {key} that is not canonical base64")
    return data


def _secret_value(raw: Any) -> SecretValue:
    if not isinstance(raw, dict):
        raise UnusableCacheFile("missing its value")
    fields: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        if name in raw:
            if not isinstance(raw[name], str):
                raise UnusableCacheFile(f"holding a {name} that is not text")
            fields[name] = raw[name]
    stages = raw.get("version_stages", [])
    if not isinstance(stages, list) or not all(isinstance(stage, str) for stage in stages):
        raise UnusableCacheFile("holding version stages that are not a list of text")
    if "secret_name" not in fields or "secret_data" not in fields:
        raise UnusableCacheFile("missing its secret name or data")
    return SecretValue(**fields, version_stages=tuple(stages))


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (also for a bool, NaN or an int too large to convert)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None

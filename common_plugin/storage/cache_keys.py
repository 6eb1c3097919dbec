"""Key-encryption keys for the on-disk cache: the pluggable "decryptor" named in the configuration.

The cache is envelope-encrypted: each file's data key (AES-256) is wrapped by a key-encryption key
(KEK) that never touches the disk next to it. A decryptor wraps and unwraps data keys. Built-ins:

* :class:`ClientKeyDecryptor` (``client_key``): a KEK derived (HKDF-SHA256) from the DKMS client
  key's private key, which the application holds anyway; the default when DKMS is configured.
* :class:`EnvironmentKeyDecryptor` (``env``): a KEK derived from an environment variable
  (``cache_key_env_variable``, default ``MANAGED_CREDENTIALS_CACHE_KEY``).
* :class:`FileKeyDecryptor` (``file``): a KEK derived from the bytes of ``cache_key_file``.

A custom class is named by dotted path (``cache_key_decryptor=mypackage.kms.MyDecryptor``), in the
spirit of a decryptor class named in configuration: subclass :class:`CacheKeyDecryptor`; it is
built with ``from_config(config)`` (default: no arguments).
"""

from __future__ import annotations

import abc
import base64
import hashlib
import importlib
import os
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, pkcs12

from ..config.loading import DEFAULT_CACHE_KEY_VARIABLE as DEFAULT_KEY_VARIABLE
from ..exceptions import ConfigError

if TYPE_CHECKING:
    from ..config.loading import ProviderConfig

__all__ = [
    "BUILTIN_DECRYPTORS",
    "CacheKeyDecryptor",
    "ClientKeyDecryptor",
    "EnvironmentKeyDecryptor",
    "FileKeyDecryptor",
    "load_decryptor_class",
]

_WRAP_AAD = b"managed-credentials data key v1"


class CacheKeyDecryptor(abc.ABC):
    """Wraps and unwraps the data keys of the on-disk cache.

    Contract: thread-safe; ``decrypt_data_key`` raises ``ValueError`` for a blob it did not wrap
    (another KEK, or tampered), which makes the cache discard that file and fetch again. Nothing a
    decryptor raises or logs may contain key material.
    """

    @property
    @abc.abstractmethod
    def key_id(self) -> str:
        """A stable, non-secret identifier of the KEK (written beside each wrapped key)."""

    @abc.abstractmethod
    def encrypt_data_key(self, data_key: bytes) -> bytes:
        """Wrap ``data_key``."""

    @abc.abstractmethod
    def decrypt_data_key(self, encrypted: bytes) -> bytes:
        """Unwrap a blob made by :meth:`encrypt_data_key`; ``ValueError`` if it cannot."""

    @classmethod
    def from_config(cls, config: ProviderConfig) -> CacheKeyDecryptor:
        """Build one for ``config``; the default ignores it and calls ``cls()``."""
        return cls()


class _DerivedKeyDecryptor(CacheKeyDecryptor):
    """AES-256-GCM key wrapping under a KEK derived with HKDF-SHA256 from secret input material."""

    def __init__(self, material: bytes, *, label: str) -> None:
        if not material:
            raise ConfigError("the cache key material is empty", key="cache_key_decryptor")
        self._kek = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"managed-credentials-cache", info=label.encode()
        ).derive(material)
        self._key_id = label + ":" + hashlib.sha256(b"kek-id" + self._kek).hexdigest()[:16]

    @property
    def key_id(self) -> str:
        return self._key_id

    def encrypt_data_key(self, data_key: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + AESGCM(self._kek).encrypt(nonce, data_key, _WRAP_AAD)

    def decrypt_data_key(self, encrypted: bytes) -> bytes:
        try:
            return AESGCM(self._kek).decrypt(encrypted[:12], encrypted[12:], _WRAP_AAD)
        except (InvalidTag, ValueError):
            raise ValueError("the data key was not wrapped by this key-encryption key") from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key_id={self._key_id!r})"


class ClientKeyDecryptor(_DerivedKeyDecryptor):
    """KEK derived from the first DKMS instance's client private key."""

    def __init__(self, client_key_content: str, password: str) -> None:
        import json

        try:
            document = json.loads(client_key_content)
            blob = base64.b64decode(document["PrivateKeyData"])
            private_key, _cert, _extra = pkcs12.load_key_and_certificates(blob, password.encode())
        except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: deeply nested JSON
            private_key = None
        if private_key is None:
            raise ConfigError(
                "cache_key_decryptor=client_key: the client key cannot be opened to derive the cache key",
                key="cache_key_decryptor",
            )
        material = private_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        super().__init__(material, label="client-key")

    @classmethod
    def from_config(cls, config: ProviderConfig) -> CacheKeyDecryptor:
        if not config.dkms_instances:
            raise ConfigError(
                "cache_key_decryptor=client_key needs a DKMS instance with a client key; with the KMS "
                "gateway use cache_key_decryptor=env or file",
                key="cache_key_decryptor",
            )
        instance = config.dkms_instances[0]
        return cls(instance.client_key_content, instance.password)


class EnvironmentKeyDecryptor(_DerivedKeyDecryptor):
    """KEK derived from the value of an environment variable (use at least 32 random bytes)."""

    def __init__(self, variable: str = DEFAULT_KEY_VARIABLE) -> None:
        value = os.environ.get(variable, "")
        if len(value) < 16:
            raise ConfigError(
                f"cache_key_env_variable: environment variable {variable} must hold the cache key "
                "(at least 16 characters; e.g. the output of `openssl rand -base64 32`)",
                key="cache_key_env_variable",
            )
        super().__init__(value.encode(), label="env")

    @classmethod
    def from_config(cls, config: ProviderConfig) -> CacheKeyDecryptor:
        return cls(config.cache_key_env_variable or DEFAULT_KEY_VARIABLE)


class FileKeyDecryptor(_DerivedKeyDecryptor):
    """KEK derived from the contents of a key file (keep it 0600, outside the cache folder)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        try:
            material = open(path, "rb").read()  # noqa: SIM115 - read whole, closed by refcount
        except OSError:
            raise ConfigError(
                f"cache_key_file: cannot read {path}; fix the path or its permissions", key="cache_key_file"
            ) from None
        if len(material) < 16:
            raise ConfigError(f"cache_key_file: {path} must hold at least 16 bytes", key="cache_key_file")
        super().__init__(material, label="file")

    @classmethod
    def from_config(cls, config: ProviderConfig) -> CacheKeyDecryptor:
        if config.cache_key_file is None:
            raise ConfigError("cache_key_decryptor=file needs cache_key_file", key="cache_key_file")
        return cls(config.cache_key_file)


BUILTIN_DECRYPTORS: dict[str, type[CacheKeyDecryptor]] = {
    "client_key": ClientKeyDecryptor,
    "env": EnvironmentKeyDecryptor,
    "file": FileKeyDecryptor,
}


def load_decryptor_class(name: str) -> type[CacheKeyDecryptor]:
    """Resolve a built-in name or a dotted ``module.Class`` (also ``module:Class``).

    Raises:
        ConfigError: not importable, or not a :class:`CacheKeyDecryptor` subclass.
    """
    if name in BUILTIN_DECRYPTORS:
        return BUILTIN_DECRYPTORS[name]
    module_name, _, class_name = name.replace(":", ".").rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name) if module_name else None
    except (ImportError, AttributeError, ValueError):
        cls = None
    if not isinstance(cls, type) or not issubclass(cls, CacheKeyDecryptor):
        raise ConfigError(
            f"cache_key_decryptor: {name!r} is not one of {sorted(BUILTIN_DECRYPTORS)} nor an importable "
            "CacheKeyDecryptor subclass given as package.module.ClassName",
            key="cache_key_decryptor",
        )
    return cls

"""The optional encrypted on-disk cache shared by a host's worker processes (``cache_dir``).

:mod:`.disk_cache` stores snapshots in a folder it trusts only after checking, with a cross-process
lock; :mod:`.cache_format` is the envelope-encrypted (AES-256-GCM) file and its strict decoder;
:mod:`.cache_keys` holds the pluggable key-encryption keys (``cache_key_decryptor``). The provider
reads it before fetching and writes it after; it depends on configuration and credentials only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .cache_keys import CacheKeyDecryptor, load_decryptor_class
    from .disk_cache import EncryptedFileStore, SecretStore, StoredSecret

# Imported on first access (PEP 562): the provider imports .stored_source on every run, but the
# encryption (cryptography) and key-decryptor configuration are needed only with cache_dir.
_HOMES = {
    "CacheKeyDecryptor": ".cache_keys",
    "EncryptedFileStore": ".disk_cache",
    "SecretStore": ".disk_cache",
    "StoredSecret": ".disk_cache",
    "load_decryptor_class": ".cache_keys",
}


__getattr__ = lazy_exports(__name__, _HOMES)

__all__ = ["CacheKeyDecryptor", "EncryptedFileStore", "SecretStore", "StoredSecret", "load_decryptor_class"]

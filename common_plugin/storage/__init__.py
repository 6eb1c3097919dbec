"""The optional encrypted on-disk cache shared by a host's worker processes (``cache_dir``).

:mod:`.disk_cache` stores snapshots in a folder it trusts only after checking, with a cross-process
lock; :mod:`.cache_format` is the envelope-encrypted (AES-256-GCM) file and its strict decoder;
:mod:`.cache_keys` holds the pluggable key-encryption keys (``cache_key_decryptor``). The provider
reads it before fetching and writes it after; it depends on configuration and credentials only.
"""

from __future__ import annotations

from .cache_keys import CacheKeyDecryptor, load_decryptor_class
from .disk_cache import EncryptedFileStore, SecretStore, StoredSecret

__all__ = ["CacheKeyDecryptor", "EncryptedFileStore", "SecretStore", "StoredSecret", "load_decryptor_class"]

"""An encrypted on-disk cache of secret values, shared by the processes of one host.

Opt-in with ``cache_dir`` in the properties file. It does two things:

* **Survives restarts.** A process that starts finds the last value on disk and serves it at once
  (if it is still fresh) instead of fetching.
* **Shares fetches between worker processes.** A fetch takes an exclusive file lock per secret and
  re-reads the file first, so when N workers refresh after a rotation (or after a revoke), the first
  one fetches and the others read what it wrote: about one fetch per rotation per host. This lock
  is the one lock the product holds across network I/O, on purpose; see :meth:`EncryptedFileStore.locked`.

Each file is AES-256-GCM-encrypted with its own data key, bound to the secret name, and the data key
is wrapped by a :class:`~common_plugin.storage.cache_keys.CacheKeyDecryptor` (envelope encryption). Files are
0600 in a 0700 folder, named by a hash of the secret name, written to a temporary file and renamed
into place (atomic). A tampered, truncated or foreign file (another KEK) is detected, discarded and
fetched again. Plaintext never touches the disk.
"""

from __future__ import annotations

import abc
import base64
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..credentials import SecretValue
from .cache_keys import CacheKeyDecryptor

try:  # POSIX advisory locks; on other systems processes do not coordinate (each still caches)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["EncryptedFileStore", "SecretStore", "StoredSecret"]

_LOGGER = logging.getLogger(__name__)
_FORMAT = 1
_AAD_PREFIX = b"managed-credentials cache v1\0"


@dataclasses.dataclass(frozen=True)
class StoredSecret:
    """A value read back from the store, with the time it was originally fetched (epoch seconds)."""

    value: SecretValue
    fetched_at: float


class SecretStore(abc.ABC):
    """Where the provider keeps secret values between processes and restarts.

    Contract: thread- and process-safe; ``load`` never raises for bad content (it discards it and
    returns ``None``); ``locked`` serialises fetches of one secret across processes.
    """

    @abc.abstractmethod
    def load(self, secret_name: str) -> StoredSecret | None:
        """The stored value, or ``None`` when absent or unusable (then discarded)."""

    @abc.abstractmethod
    def save(self, secret_name: str, value: SecretValue, fetched_at: float) -> None:
        """Store ``value``; failures are logged, never raised (the cache is an optimisation)."""

    @abc.abstractmethod
    def locked(self, secret_name: str) -> contextlib.AbstractContextManager[None]:
        """Hold the cross-process fetch lock of ``secret_name``."""

    def discard(self, secret_name: str) -> None:  # noqa: B027 - optional hook
        """Forget the stored value of ``secret_name`` (e.g. a key the cloud has rejected)."""

    def after_fork(self) -> None:  # noqa: B027 - optional hook
        """In a forked child: replace thread locks the parent's threads may have held."""


def _aad(secret_name: str, key_id: str) -> bytes:
    """What the ciphertext is bound to: the format, the secret's name and the KEK's id."""
    return _AAD_PREFIX + secret_name.encode("utf-8") + b"\0" + key_id.encode("utf-8")


class EncryptedFileStore(SecretStore):
    """The encrypted file cache described in the module docstring.

    Args:
        directory: the cache folder; created 0700 when missing.
        decryptor: wraps the per-file data keys.
    """

    def __init__(self, directory: str | os.PathLike[str], decryptor: CacheKeyDecryptor) -> None:
        self.directory = Path(directory)
        self._decryptor = decryptor
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        mode = stat.S_IMODE(self.directory.stat().st_mode)
        if mode & 0o077:
            _LOGGER.warning("cache folder %s had mode %o; tightening it to 0700", self.directory, mode)
            os.chmod(self.directory, 0o700)

    def __repr__(self) -> str:
        return f"EncryptedFileStore({str(self.directory)!r}, {self._decryptor!r})"

    def discard(self, secret_name: str) -> None:
        self._discard(self._stem(secret_name).with_suffix(".cache"))

    def _stem(self, secret_name: str) -> Path:
        return self.directory / hashlib.sha256(secret_name.encode("utf-8")).hexdigest()[:40]

    @contextlib.contextmanager
    def locked(self, secret_name: str) -> Iterator[None]:
        """Hold the secret's exclusive file lock (``flock``) for the block.

        The provider holds it *across the fetch*, by design: that is what makes the processes of a
        host fetch once per rotation (the others wait, then re-read what the first one wrote). It
        is held for one fetch at most, so the fetch's own bounds (the source's request timeout
        and attempt count, ``request_timeout_seconds`` x ``max_fetch_attempts``) bound every wait
        for it. No thread lock is held: each call opens its own descriptor, and ``flock`` locks on
        different open descriptions exclude each other within one process too, while the
        provider's single-flight already lets one thread per secret fetch.
        """
        if fcntl is None:
            yield
            return
        try:
            fd = os.open(self._stem(secret_name).with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            # The cache is an optimisation: fetch without coordinating rather than fail the call.
            _LOGGER.warning("cannot open the cache lock file in %s; fetching uncoordinated", self.directory)
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def load(self, secret_name: str) -> StoredSecret | None:
        path = self._stem(secret_name).with_suffix(".cache")
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError:
            _LOGGER.warning("cannot read cache file %s; fetching instead", path, exc_info=True)
            return None
        try:
            envelope = json.loads(raw)
            if envelope.get("format") != _FORMAT:
                raise ValueError("unknown format")
            data_key = self._decryptor.decrypt_data_key(base64.b64decode(envelope["wrapped_key"]))
            plaintext = AESGCM(data_key).decrypt(
                base64.b64decode(envelope["nonce"]),
                base64.b64decode(envelope["ciphertext"]),
                _aad(secret_name, str(envelope["key_id"])),
            )
            payload = json.loads(plaintext)
            fields = {f.name for f in dataclasses.fields(SecretValue)}
            value = SecretValue(**{k: v for k, v in payload["value"].items() if k in fields})
            if isinstance(value.version_stages, list):
                value = dataclasses.replace(value, version_stages=tuple(value.version_stages))
            stored = StoredSecret(value, float(payload["fetched_at"]))
        except (ValueError, KeyError, TypeError, InvalidTag):
            _LOGGER.warning(
                "cache file %s for secret %s is tampered, truncated or from another key; discarded",
                path,
                secret_name,
            )
            self._discard(path)
            return None
        if stored.value.secret_name != secret_name:
            self._discard(path)
            return None
        return stored

    def save(self, secret_name: str, value: SecretValue, fetched_at: float) -> None:
        path = self._stem(secret_name).with_suffix(".cache")
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        payload = json.dumps({"value": dataclasses.asdict(value), "fetched_at": fetched_at}).encode()
        envelope = {
            "format": _FORMAT,
            "key_id": self._decryptor.key_id,
            "wrapped_key": base64.b64encode(self._decryptor.encrypt_data_key(data_key)).decode(),
            "nonce": base64.b64encode(nonce).decode(),
            "ciphertext": base64.b64encode(
                AESGCM(data_key).encrypt(nonce, payload, _aad(secret_name, self._decryptor.key_id))
            ).decode(),
        }
        temporary = path.with_suffix(f".tmp-{os.getpid()}-{threading.get_ident()}")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(envelope, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except OSError:
            _LOGGER.warning("cannot write cache file %s; continuing without it", path, exc_info=True)
            self._discard(temporary)

    @staticmethod
    def _discard(path: Path) -> None:
        with contextlib.suppress(OSError):
            path.unlink()

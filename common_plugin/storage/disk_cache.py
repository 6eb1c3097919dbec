"""An encrypted on-disk cache of secret values, shared by the processes of one host.

Opt-in with ``cache_dir`` in the properties file. It does two things:

* **Survives restarts.** A process that starts finds the last value on disk and serves it at once
  (if it is still fresh) instead of fetching.
* **Shares fetches between worker processes.** A fetch takes an exclusive file lock per secret and
  re-reads the file first, so when N workers refresh after a rotation (or after a revoke), the first
  one fetches and the others read what it wrote: about one fetch per rotation per host. This lock
  is the one lock the product holds across network I/O, on purpose; see :meth:`EncryptedFileStore.locked`.

Each file is AES-256-GCM-encrypted with its own data key, bound to the secret name, and the data key
is wrapped by a :class:`~common_plugin.storage.cache_keys.CacheKeyDecryptor` (envelope encryption;
the file format is in :mod:`.cache_format`). Plaintext never touches the disk.

What it trusts: nothing in the folder. The folder must be a real folder (not a symbolic link) owned
by the effective user and writable by nobody else (:mod:`common_plugin.config.cache_folder`):
checked when the store is built (a :class:`~common_plugin.exceptions.ConfigError` naming the folder
and the fix) and again, on an open descriptor, before each read or write (then the cache is skipped
with a warning). Every file is opened relative to that descriptor with ``O_NOFOLLOW`` and
``O_NONBLOCK`` and checked with ``fstat``: a symbolic link, FIFO, device or another user's file in
place of a cache file is removed and the secret fetched; in place of a lock file it is left alone
and fetches go uncoordinated, with a warning naming it. A file that does not decode (not JSON,
``[]``, ``null``, nested too deeply, wrong types, tampered, truncated, another key's, over 1 MiB) is
removed and the secret fetched again; ``load`` never raises. Files are 0600 in a 0700 folder,
written to a temporary file and renamed into place (atomic).

Replays. Each write of a secret carries a generation one above the newest this store knows of; the
newest is kept in memory (per store) and in the secret's lock file, and :meth:`~SecretStore.discard`
(a key the cloud rejected) moves it one past the discarded file. A file older than either is a
restored or replayed copy: it is removed and the secret fetched. The limit: a process that has not
seen the newer file itself (a fresh start) trusts the lock file, so a copy of *both* files put back
together (e.g. restoring the whole folder from a backup) is served while still fresh; the cloud then
rejects the key if it was revoked, and the provider fetches again. Writing into the folder needs the
owner's uid (or root), who can read the key-encryption key as well.

Requires POSIX (``O_NOFOLLOW``, ``openat``, ``flock``); elsewhere building the store is a
:class:`~common_plugin.exceptions.ConfigError`.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import errno
import hashlib
import logging
import os
import re
import secrets
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from ..config.cache_folder import folder_problem
from ..credentials import SecretValue
from ..exceptions import ConfigError
from .cache_format import UnusableCacheFile, decode, encode
from .cache_keys import CacheKeyDecryptor

try:  # POSIX advisory locks
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["EncryptedFileStore", "SecretStore", "StoredSecret"]

_LOGGER = logging.getLogger(__name__)
_MAX_FILE_BYTES = 1 << 20  # a secret value is at most tens of KiB; anything larger is not ours
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer; O_NOCTTY: never a terminal
_OPEN_FLAGS = _NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
_SUPPORTED = bool(_NOFOLLOW) and hasattr(os, "O_DIRECTORY") and os.open in os.supports_dir_fd
_RECORD = re.compile(rb"(\d{1,18})\n?")
_SYMLINK_ERRNOS = frozenset({errno.ELOOP, errno.EMLINK})  # what O_NOFOLLOW gives for a link


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


def _file_problem(status: os.stat_result) -> str | None:
    """Why an opened file is not one of ours: not regular, another owner, or linked elsewhere too."""
    if not stat.S_ISREG(status.st_mode):
        return "not a regular file (a FIFO, device, socket or folder)"
    if status.st_uid != os.geteuid():
        return f"owned by uid {status.st_uid}, not by this process's user"
    if status.st_nlink != 1:
        return "hard-linked elsewhere"
    return None


class EncryptedFileStore(SecretStore):
    """The encrypted file cache described in the module docstring. Thread- and process-safe.

    Args:
        directory: the cache folder; created 0700 when missing.
        decryptor: wraps the per-file data keys.

    Raises:
        ConfigError: the folder cannot be created, or may not be trusted (a symbolic link, another
            user's, writable by group or others), or the system is not POSIX.
    """

    def __init__(self, directory: str | os.PathLike[str], decryptor: CacheKeyDecryptor) -> None:
        self.directory = Path(directory)
        self._decryptor = decryptor
        if not _SUPPORTED or fcntl is None:  # pragma: no cover - Windows
            raise ConfigError(
                "cache_dir needs a POSIX system (O_NOFOLLOW, openat and flock)", key="cache_dir"
            )
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise self._folder_error(f"cannot create {self.directory}: {exc.strerror}") from None
        folder = self._open_folder()
        try:
            mode = stat.S_IMODE(os.fstat(folder).st_mode)
            if mode & 0o077:
                _LOGGER.warning("cache folder %s had mode %o; tightening it to 0700", self.directory, mode)
                os.fchmod(folder, 0o700)
        finally:
            os.close(folder)
        self._guard = threading.Lock()
        self._newest: dict[str, int] = {}  # per secret: the newest generation this store has seen

    def __repr__(self) -> str:
        return f"EncryptedFileStore({str(self.directory)!r}, {self._decryptor!r})"

    def after_fork(self) -> None:
        self._guard = threading.Lock()  # a thread of the parent may have held it at fork()

    def _stem(self, secret_name: str) -> Path:
        return self.directory / self._name(secret_name)

    @staticmethod
    def _name(secret_name: str) -> str:
        return hashlib.sha256(secret_name.encode("utf-8")).hexdigest()[:40]

    # -- the folder ----------------------------------------------------------------------------

    def _folder_error(self, problem: str) -> ConfigError:
        return ConfigError(f"cache_dir: {problem}", key="cache_dir", path=str(self.directory))

    def _open_folder(self) -> int:
        """A descriptor of the cache folder after checking it; every file is opened relative to it,
        so swapping the folder's path after the check cannot redirect a read or a write."""
        try:
            fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | _OPEN_FLAGS)
        except OSError as exc:
            try:
                problem = folder_problem(os.lstat(self.directory), self.directory)
            except OSError:
                problem = None
            raise self._folder_error(problem or f"cannot open {self.directory}: {exc.strerror}") from None
        problem = folder_problem(os.fstat(fd), self.directory)
        if problem is not None:
            os.close(fd)
            raise self._folder_error(problem)
        return fd

    def _folder_or_none(self) -> int | None:
        """:meth:`_open_folder`, or ``None`` with a warning: the cache is skipped, never trusted."""
        try:
            return self._open_folder()
        except ConfigError as exc:
            _LOGGER.warning("%s; working without the on-disk cache", exc)
            return None

    # -- locking and the generation record -----------------------------------------------------

    @contextlib.contextmanager
    def locked(self, secret_name: str) -> Iterator[None]:
        """Hold the secret's exclusive file lock (``flock``) for the block.

        The provider holds it *across the fetch*, by design: that is what makes the processes of a
        host fetch once per rotation (the others wait, then re-read what the first one wrote). It
        is held for one fetch at most, so the fetch's own bounds (the source's request timeout
        and attempt count, ``request_timeout_seconds`` x ``max_fetch_attempts``) bound every wait
        for it (the provider's ``fetch_timeout`` bounds it as a whole). No thread lock is held: each
        call opens its own descriptor (without following links), ``flock`` locks on different open
        descriptions exclude each other within one process too, and the provider's single-flight
        already lets one thread per secret fetch.
        """
        fd = self._open_lock(secret_name)
        if fd is None:  # the cache is an optimisation: fetch uncoordinated rather than fail
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _open_lock(self, secret_name: str) -> int | None:
        folder = self._folder_or_none()
        if folder is None:
            return None
        path = self._stem(secret_name).with_suffix(".lock")
        try:
            fd = os.open(path.name, os.O_RDWR | os.O_CREAT | _OPEN_FLAGS, 0o600, dir_fd=folder)
        except OSError as exc:
            reason = "a symbolic link" if exc.errno in _SYMLINK_ERRNOS else exc.strerror
            _LOGGER.warning(
                "cannot open the cache lock file %s (%s); fetching uncoordinated until it is removed",
                path,
                reason,
            )
            return None
        finally:
            os.close(folder)
        problem = _file_problem(os.fstat(fd))
        if problem is not None:
            os.close(fd)
            _LOGGER.warning(
                "cache lock file %s is %s; fetching uncoordinated until it is removed", path, problem
            )
            return None
        return fd

    def _recorded(self, folder: int, name: str) -> int:
        """The newest generation the lock file records (0 when absent or unreadable)."""
        try:
            fd = os.open(name + ".lock", os.O_RDONLY | _OPEN_FLAGS, dir_fd=folder)
        except OSError:
            return 0
        try:
            if _file_problem(os.fstat(fd)) is not None:
                return 0
            match = _RECORD.fullmatch(os.pread(fd, 32, 0))
            return int(match.group(1)) if match else 0
        except OSError:
            return 0
        finally:
            os.close(fd)

    def _record(self, folder: int, name: str, generation: int) -> None:
        try:
            fd = os.open(name + ".lock", os.O_RDWR | os.O_CREAT | _OPEN_FLAGS, 0o600, dir_fd=folder)
        except OSError:
            return  # _open_lock has warned, or will
        try:
            if _file_problem(os.fstat(fd)) is None:
                data = b"%d\n" % generation
                os.pwrite(fd, data, 0)
                os.ftruncate(fd, len(data))
        except OSError:
            _LOGGER.warning("cannot record the cache generation in %s.lock", self.directory / name)
        finally:
            os.close(fd)

    def _newest_known(self, folder: int, secret_name: str) -> int:
        with self._guard:
            seen = self._newest.get(secret_name, 0)
        return max(seen, self._recorded(folder, self._name(secret_name)))

    def _saw(self, secret_name: str, generation: int) -> None:
        with self._guard:
            self._newest[secret_name] = max(self._newest.get(secret_name, 0), generation)

    # -- load, save, discard -------------------------------------------------------------------

    def load(self, secret_name: str) -> StoredSecret | None:
        folder = self._folder_or_none()
        if folder is None:
            return None
        name = self._name(secret_name) + ".cache"
        try:
            try:
                raw = self._read(folder, name)
                if raw is None:
                    return None
                decoded = decode(self._decryptor, secret_name, raw)
                newest = self._newest_known(folder, secret_name)
                if decoded.generation < newest:
                    raise UnusableCacheFile(
                        f"generation {decoded.generation}, older than generation {newest} already seen "
                        "(a restored or replayed copy)"
                    )
            except UnusableCacheFile as exc:
                _LOGGER.warning(
                    "cache file %s for secret %s is %s; discarded, fetching instead",
                    self.directory / name,
                    secret_name,
                    exc,
                )
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=folder)  # unlink never follows a link: it removes the link
                return None
            except OSError as exc:
                _LOGGER.warning(
                    "cannot read cache file %s (%s); fetching instead", self.directory / name, exc.strerror
                )
                return None
        finally:
            os.close(folder)
        self._saw(secret_name, decoded.generation)
        return StoredSecret(decoded.value, decoded.fetched_at)

    @staticmethod
    def _read(folder: int, name: str) -> bytes | None:
        """The bytes of a regular file of ours, ``None`` when absent; :class:`UnusableCacheFile` otherwise."""
        try:
            fd = os.open(name, os.O_RDONLY | _OPEN_FLAGS, dir_fd=folder)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno in _SYMLINK_ERRNOS:
                raise UnusableCacheFile("a symbolic link") from None
            raise
        try:
            status = os.fstat(fd)
            problem = _file_problem(status)
            if problem is not None:
                raise UnusableCacheFile(problem)
            if status.st_size > _MAX_FILE_BYTES:
                raise UnusableCacheFile("larger than 1 MiB")
            data = b""
            while len(data) <= _MAX_FILE_BYTES and (chunk := os.read(fd, _MAX_FILE_BYTES + 1)):
                data += chunk
            if len(data) > _MAX_FILE_BYTES:  # grew after the fstat
                raise UnusableCacheFile("larger than 1 MiB")
            return data
        finally:
            os.close(fd)

    def save(self, secret_name: str, value: SecretValue, fetched_at: float) -> None:
        folder = self._folder_or_none()
        if folder is None:
            return
        name = self._name(secret_name)
        path = self.directory / (name + ".cache")
        temporary = f"{name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            generation = self._newest_known(folder, secret_name) + 1
            try:
                document = encode(self._decryptor, secret_name, value, fetched_at, generation)
            except Exception:  # noqa: BLE001 - a custom decryptor (an HSM, a KMS) may fail its own way
                _LOGGER.warning("cannot encrypt cache file %s; continuing without it", path, exc_info=True)
                return
            try:
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS
                fd = os.open(temporary, flags, 0o600, dir_fd=folder)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(document)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, name + ".cache", src_dir_fd=folder, dst_dir_fd=folder)
            except OSError:
                _LOGGER.warning("cannot write cache file %s; continuing without it", path, exc_info=True)
                with contextlib.suppress(OSError):
                    os.unlink(temporary, dir_fd=folder)
                return
            self._record(folder, name, generation)
        finally:
            os.close(folder)
        self._saw(secret_name, generation)

    def discard(self, secret_name: str) -> None:
        folder = self._folder_or_none()
        if folder is None:
            return
        name = self._name(secret_name)
        try:
            with contextlib.suppress(OSError):
                os.unlink(name + ".cache", dir_fd=folder)
            # a discarded value was rejected: its file must not come back either, so the newest
            # known generation moves past it
            floor = self._newest_known(folder, secret_name) + 1
            self._record(folder, name, floor)
        finally:
            os.close(folder)
        self._saw(secret_name, floor)

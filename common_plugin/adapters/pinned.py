"""What a plugin for a request-signing SDK needs around :mod:`common_plugin.retry`, and nothing else.

An SDK that asks a credentials object for a key each time it signs a request (Log Service's
``CredentialsProvider``, a PyODPS account) gets its key from a :class:`PinnedCredentials`. To retry
after a rejected key we must tell the provider *which* snapshot was rejected, so one operation is
*pinned* to the snapshot it started with: every attempt the SDK makes inside the operation (its own
retries after a 5xx included) signs with that snapshot, and :func:`call_with_one_retry` hands exactly
that snapshot to :func:`~common_plugin.retry.decide_retry`.

:class:`ClientLease` is the provider a client reads from: one passed in, or a lease on the process-wide
default that the client releases when it shuts down.

Thread-safety: a pin belongs to the thread that set it, so one client may serve many threads, each
operation with its own snapshot. The retry state of an operation lives in locals.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TypeVar

from ..ak_expire_handler import AKExpireHandler
from ..credentials import ManagedCredential
from ..exceptions import ProviderClosedError
from ..manager import ProviderLease, default_manager
from ..provider import CredentialsProvider
from ..retry import Rewind, decide_retry

__all__ = ["ClientLease", "PinnedCredentials", "call_with_one_retry", "rewinder_for"]

T = TypeVar("T")
# Sent as they are at every attempt: bytes and str, and a mapping the SDK encodes per request (Log
# Service's get_async_sql/delete_async_sql pass ``{}``, which it sends as no body at all).
_RESENDABLE_BODIES = (bytes, bytearray, memoryview, str, Mapping)


class PinnedCredentials:
    """The current snapshot of one managed RAM credential secret, pinnable per thread.

    Args:
        provider: the cache the key is read from (one lock-free lookup per request).
        secret_name: the managed RAM credential secret.

    Thread-safe.
    """

    def __init__(self, provider: CredentialsProvider, secret_name: str) -> None:
        if not secret_name:
            raise ValueError("a managed client needs secret_name, the managed RAM credential secret to use")
        self._provider = provider
        self._secret_name = secret_name
        self._local = threading.local()

    @property
    def provider(self) -> CredentialsProvider:
        return self._provider

    @property
    def secret_name(self) -> str:
        return self._secret_name

    def current(self) -> ManagedCredential:
        """The snapshot the next request of this thread signs with: the pinned one, else the newest.

        Raises:
            SecretFetchError, MalformedSecretError, ProviderClosedError: as
                :meth:`CredentialsProvider.get <common_plugin.provider.CredentialsProvider.get>`.
        """
        pinned: ManagedCredential | None = getattr(self._local, "pinned", None)
        if pinned is not None:
            return pinned
        return self._provider.get(self._secret_name)

    @contextmanager
    def pinned(self, credential: ManagedCredential) -> Iterator[ManagedCredential]:
        """Make this thread's requests sign with ``credential`` until the block ends (nests)."""
        previous: ManagedCredential | None = getattr(self._local, "pinned", None)
        self._local.pinned = credential
        try:
            yield credential
        finally:
            self._local.pinned = previous

    def __repr__(self) -> str:
        return f"PinnedCredentials(secret_name={self._secret_name!r})"


def rewinder_for(body: object) -> Rewind | None:
    """A ``rewind`` for :func:`~common_plugin.retry.decide_retry` that puts ``body`` back, or ``None``
    when nothing needs doing (no body, bytes/str, or a mapping, which the SDK re-sends as they are).

    A seekable file is sought back to where it stood now; anything else (a generator, a pipe, a
    socket) cannot be re-sent, and its rewind answers ``False``. Reads nothing from ``body``.
    """
    if body is None or isinstance(body, _RESENDABLE_BODIES):
        return None
    seek, tell = getattr(body, "seek", None), getattr(body, "tell", None)
    seekable = getattr(body, "seekable", None)
    position: int | None = None
    if callable(seek) and callable(tell):
        try:
            if not callable(seekable) or seekable():
                told = tell()
                position = told if isinstance(told, int) else None
        except (OSError, ValueError, io.UnsupportedOperation):  # a closed file, a pipe
            position = None

    def rewind() -> bool:
        if position is None:
            return False
        try:
            body.seek(position)  # type: ignore[attr-defined]
        except (OSError, ValueError):  # closed or truncated meanwhile
            return False
        return True

    return rewind


def call_with_one_retry(
    credentials: PinnedCredentials,
    send: Callable[[], T],
    *,
    errors: type[BaseException] | tuple[type[BaseException], ...],
    handler: AKExpireHandler,
    what: str,
    rewind: Rewind | None = None,
) -> T:
    """``send()`` pinned to the current snapshot; after a rejected key, once more with its replacement.

    Args:
        credentials: what the SDK signs with.
        send: one operation of the SDK (which may make several attempts of its own).
        errors: the SDK's service error types; only these are shown to the retry decision.
        handler: judges whether an error means the key was rejected.
        what: the operation, for the retry's log line.
        rewind: puts the request body back (see :func:`rewinder_for`).

    Raises:
        Whatever ``send`` raises: the original error when no retry is decided, the retry's otherwise
        (not chained to the first).
    """
    used = credentials.current()
    try:
        with credentials.pinned(used):
            return send()
    except errors as error:
        fresh = decide_retry(
            credentials.provider, credentials.secret_name, used, error, handler, what=what, rewind=rewind
        )
        if fresh is None:
            raise
    # Retried outside the except block, so a second failure does not chain to the first.
    with credentials.pinned(fresh):
        return send()


class ClientLease:
    """The provider one client reads from, and its release.

    Args:
        provider: the provider to read from; ``None`` takes a lease on the process-wide default
            (:func:`common_plugin.manager.default_manager`), released by :meth:`close`.
        owner: the client's class name, for messages.

    Thread-safe; :meth:`close` is idempotent and never closes a provider that was passed in.
    """

    def __init__(self, provider: CredentialsProvider | None, owner: str) -> None:
        self._owner = owner
        self._lease: ProviderLease | None = None
        if provider is None:
            self._lease = default_manager().lease()
            provider = self._lease.provider
        self.provider: CredentialsProvider = provider
        self._closed = False
        self._lock = threading.Lock()

    @property
    def closed(self) -> bool:
        return self._closed

    def check_open(self) -> None:
        """Raises :class:`~common_plugin.exceptions.ProviderClosedError` once :meth:`close` ran."""
        if self._closed:
            raise ProviderClosedError(f"this {self._owner} was shut down; create a new one")

    def close(self) -> bool:
        """Release the lease (if one was taken). True for the call that closed it."""
        with self._lock:
            if self._closed:
                return False
            self._closed = True
        if self._lease is not None:
            self._lease.release()
        return True

    def __repr__(self) -> str:
        return f"ClientLease(owner={self._owner!r}, closed={self._closed})"

"""What :class:`~oss_plugin.ProxyBucket` and :class:`~oss_plugin.ProxyService` share: the lease on a
provider, the one retry after a rejected key, the replay rules for request bodies, and shutdown.

Retry rule: a request is signed with a pinned snapshot; when it fails with an
``oss2.exceptions.ServerError``, :func:`common_plugin.retry.decide_retry` (the one retry decision)
says whether to retry and with which snapshot; if it names one and the request body can be
replayed, the request is sent exactly once more, pinned to the new snapshot. Otherwise the original
exception propagates unchanged.

Replaying bodies. ``oss2`` wraps upload bodies before they reach ``_do``: ``put_object``,
``upload_part`` and ``append_object`` pass ``utils.make_crc_adapter(data)`` (and, with a progress
callback, a ``make_progress_adapter`` underneath), then compare the adapter's running CRC with the
server's. The adapter is an iterator whose offset and CRC advance as the first attempt reads it, and
the caller keeps a reference to it, so it cannot be swapped for a fresh one: it must be rewound in
place. :func:`capture_body` records, *before* the first attempt, everything needed to do that:

* ``None``, ``bytes``, ``bytearray``, ``memoryview``, ``str``: replayable as they are.
* a seekable file object (``seekable()`` true and ``tell()`` works): its position, restored by
  ``seek``. ``oss2.http`` wraps it per attempt in a fresh ``SizedFileAdapter``.
* ``utils.SizedFileAdapter`` (``resumable_upload`` parts): its offset, and its file's position.
* ``utils._BytesAndFileAdapter`` (the CRC/progress adapter over bytes, a seekable file or another
  such adapter) without a cipher: its offset, a copy of its CRC64 state, and the inner body's state,
  recursively. Progress callbacks therefore see the count go back on a retry.
* anything else - generators, iterators, non-seekable streams, ``_IterableAdapter`` and
  ``_FileLikeAdapter`` (``oss2`` only uses those when the size is unknown, i.e. for non-seekable
  data), cipher adapters (their keystream cannot be rewound): **not replayable**. The provider
  still learns that the key was rejected, so the *next* call signs with the new key.

The adapter attributes read here (``offset``, ``data``, ``crc_callback.crc64``, ``cipher_callback``,
``file_object``) were checked against oss2 2.19.1, are listed in ``docs/sdk_hooks.md`` and are
pinned by ``tests/test_oss_hooks.py``;
if they change, :func:`capture_body` answers "not replayable" rather than guess.

Thread-safety: :class:`ManagedCaller` is thread-safe; each call keeps its own snapshot and replay
state in locals.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import oss2

from common_plugin.ak_expire_handler import AKExpireHandler
from common_plugin.credentials import ManagedCredential
from common_plugin.exceptions import ProviderClosedError
from common_plugin.manager import ProviderLease, default_manager
from common_plugin.masking import redact_exception
from common_plugin.retry import decide_retry

if TYPE_CHECKING:  # the provider machinery loads with the first provider, not with this import
    from common_plugin.provider import CredentialsProvider

from .credentials_provider import ManagedOssCredentialsProvider

__all__ = [
    "AUTH_VERSIONS",
    "ManagedCaller",
    "ManagedClientMixin",
    "capture_body",
    "check_auth_version",
    "make_auth",
]

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")
Restore = Callable[[], None]

AUTH_VERSIONS = ("v1", "v4")

# oss2 2.19.1 internals (see the module docstring); None if a future oss2 renames them.
_BYTES_AND_FILE_ADAPTER: type | None = getattr(oss2.utils, "_BytesAndFileAdapter", None)
_SIZED_FILE_ADAPTER: type | None = getattr(oss2.utils, "SizedFileAdapter", None)
_IMMUTABLE_BODIES = (bytes, bytearray, memoryview, str)


def _nothing() -> None:
    return None


def capture_body(body: object) -> Restore | None:
    """Record ``body``'s read state; return a function that puts it back, or ``None`` if it cannot
    be replayed. Reads nothing from ``body``.
    """
    if body is None or isinstance(body, _IMMUTABLE_BODIES):
        return _nothing
    body_type = type(body)
    if _BYTES_AND_FILE_ADAPTER is not None and body_type is _BYTES_AND_FILE_ADAPTER:
        return _capture_bytes_and_file_adapter(body)
    if _SIZED_FILE_ADAPTER is not None and body_type is _SIZED_FILE_ADAPTER:
        return _capture_sized_file_adapter(body)
    return _capture_seekable_file(body)


def _capture_bytes_and_file_adapter(adapter: Any) -> Restore | None:
    if getattr(adapter, "cipher_callback", None) is not None:
        return None
    offset = getattr(adapter, "offset", None)
    if not isinstance(offset, int):
        return None
    inner = capture_body(getattr(adapter, "data", None))
    if inner is None:
        return None
    crc = getattr(adapter, "crc_callback", None)
    saved_crc: Any = None
    if crc is not None:
        state = getattr(crc, "crc64", None)
        if state is None or not callable(getattr(state, "copy", None)):
            return None
        saved_crc = state.copy()

    def restore() -> None:
        inner()
        adapter.offset = offset
        if crc is not None:
            crc.crc64 = saved_crc.copy()

    return restore


def _capture_sized_file_adapter(adapter: Any) -> Restore | None:
    offset = getattr(adapter, "offset", None)
    if not isinstance(offset, int):
        return None
    inner = capture_body(getattr(adapter, "file_object", None))
    if inner is None:
        return None

    def restore() -> None:
        inner()
        adapter.offset = offset

    return restore


def _capture_seekable_file(body: Any) -> Restore | None:
    seek, tell = getattr(body, "seek", None), getattr(body, "tell", None)
    if not callable(seek) or not callable(tell):
        return None
    seekable = getattr(body, "seekable", None)
    try:
        if callable(seekable) and not seekable():
            return None
        position = tell()
    except (OSError, ValueError):  # a pipe, a socket, a closed file
        return None
    if not isinstance(position, int):
        return None

    def restore() -> None:
        seek(position)

    return restore


def check_auth_version(auth_version: str, region: str | None) -> None:
    """Validate the signing arguments (before any lease is taken).

    Raises:
        ValueError: an unknown ``auth_version``, or v4 without a region.
    """
    if auth_version not in AUTH_VERSIONS:
        raise ValueError(f"auth_version must be one of {AUTH_VERSIONS!r}")
    if auth_version == "v4" and not region:
        raise ValueError("auth_version='v4' signs with the region: pass region, e.g. region='cn-hangzhou'")


def make_auth(credentials: ManagedOssCredentialsProvider, auth_version: str) -> Any:
    """``oss2.ProviderAuth`` for ``"v1"``, ``oss2.ProviderAuthV4`` for ``"v4"``."""
    if auth_version == "v4":
        return oss2.ProviderAuthV4(credentials)
    return oss2.ProviderAuth(credentials)


def _rewinder(restore: Restore | None) -> Callable[[], bool]:
    """The retry decision's ``rewind``: restore the body; ``False`` for one that cannot be replayed."""

    def rewind() -> bool:
        if restore is None:
            return False
        try:
            restore()
        except (OSError, ValueError):  # the file was closed or truncated meanwhile
            return False
        return True

    return rewind


class ManagedCaller:
    """Runs ``oss2`` requests for one client: pins the key, retries once after a rejected key.

    Args:
        secret_name: the managed RAM credential secret.
        handler: judges whether an error means the key was rejected.
        provider: the provider to read from; ``None`` takes a lease on the process-wide default.
        owner: the client's class name, for messages.

    Thread-safe.
    """

    def __init__(
        self,
        secret_name: str,
        handler: AKExpireHandler,
        provider: CredentialsProvider | None,
        owner: str,
    ) -> None:
        if not secret_name:
            raise ValueError(f"{owner} needs secret_name, the managed RAM credential secret to use")
        self.secret_name = secret_name
        self.handler = handler
        self.owner = owner
        self._lease: ProviderLease | None = None
        if provider is None:
            self._lease = default_manager().lease()
            provider = self._lease.provider
        self.provider: CredentialsProvider = provider
        self.credentials = ManagedOssCredentialsProvider(provider, secret_name)
        self._closed = False
        self._close_lock = threading.Lock()

    @property
    def closed(self) -> bool:
        return self._closed

    def current(self) -> ManagedCredential:
        """The snapshot to sign the next request of this thread with.

        Raises:
            ProviderClosedError: the client was shut down.
        """
        if self._closed:
            raise ProviderClosedError(f"this {self.owner} was shut down; create a new one")
        return self.credentials.current()

    def call(
        self, send: Callable[[dict[str, Any]], T], kwargs: dict[str, Any], method: str, bucket_name: str
    ) -> T:
        """Run ``send(kwargs)`` signed with the current key; retry once after a rejected key.

        Args:
            send: performs one attempt (``oss2``'s ``_do``) with the given keyword arguments.
            kwargs: ``_do``'s keyword arguments (``data``, ``headers``, ``params``, ...).
            method, bucket_name: the request's HTTP method and bucket, for the log line.

        Raises:
            ProviderClosedError: the client was shut down.
            SecretFetchError, MalformedSecretError: the secret could not be loaded at all.
            oss2.exceptions.OssError: whatever ``oss2`` raises, unchanged (after at most one retry).
        """
        used = self.current()
        restore = capture_body(kwargs.get("data"))
        headers = kwargs.get("headers")
        # Signing writes into a CaseInsensitiveDict passed by oss2; keep the caller's version so a
        # retry starts clean (e.g. no security-token header left by a key that had one).
        saved_headers = dict(headers.items()) if headers is not None else None
        fresh: ManagedCredential | None = None
        try:
            with self.credentials.pinned(used):
                return send(kwargs)
        except oss2.exceptions.ServerError as error:
            fresh = decide_retry(
                self.provider,
                self.secret_name,
                used,
                error,
                self.handler,
                what=f"{self.owner}: a {method} request to bucket {bucket_name!r}",
                rewind=_rewinder(restore),
            )
            if fresh is None:
                raise
        # Retry outside the except block, so a second failure does not chain to the first.
        retry_kwargs = dict(kwargs)
        if saved_headers is not None:
            retry_kwargs["headers"] = oss2.CaseInsensitiveDict(saved_headers)
        with self.credentials.pinned(fresh):
            return send(retry_kwargs)

    def close(self) -> bool:
        """Release this client's lease (never closing a provider that was passed in).

        Returns:
            True for the call that closed it; False when it was already closed.
        """
        with self._close_lock:
            if self._closed:
                return False
            self._closed = True
        if self._lease is not None:
            self._lease.release()
        return True


class ManagedClientMixin:
    """Properties and lifecycle shared by the proxy clients (which set ``_caller`` and
    ``_owns_session``). Thread-safe: :meth:`shutdown` may race with requests and with itself."""

    _caller: ManagedCaller
    _owns_session: bool
    session: Any

    @property
    def secret_name(self) -> str:
        """The managed RAM credential secret this client signs with."""
        return self._caller.secret_name

    @property
    def provider(self) -> CredentialsProvider:
        """The credentials provider this client reads from."""
        return self._caller.provider

    @property
    def credentials_provider(self) -> ManagedOssCredentialsProvider:
        """The ``oss2`` credentials provider inside this client's auth."""
        return self._caller.credentials

    @property
    def ak_expire_handler(self) -> AKExpireHandler:
        """The handler that judges rejected-key errors."""
        return self._caller.handler

    def _do(self, method: str, bucket_name: str, key: Any, **kwargs: Any) -> Any:
        # The oss2 request hook, for both clients: oss2.api._Base._do (checked against oss2 2.19.1,
        # listed in docs/sdk_hooks.md). The mixin precedes the oss2 class in the MRO, so super() is
        # oss2's implementation.
        send = super()._do  # type: ignore[misc]
        try:
            return self._caller.call(
                lambda attempt: send(method, bucket_name, key, **attempt), kwargs, method, bucket_name
            )
        except Exception as error:
            # oss2's error keeps the response body, details and headers, which after a
            # SignatureDoesNotMatch echo x-oss-security-token: redact, keep the type and codes.
            redact_exception(error)
            raise

    def shutdown(self) -> None:
        """Release this client's lease and close the HTTP session it created. Idempotent.

        Never stops refreshing for other clients; a session passed in by the caller stays open.
        Later requests raise :class:`~common_plugin.exceptions.ProviderClosedError`.
        """
        if self._caller.close() and self._owns_session:
            self.session.session.close()

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

"""Managed credentials for ``alibabacloud-oss-v2`` clients, with the one retry after a rejected key.

``alibabacloud_oss_v2`` (checked against 1.4.1, ``_client.py`` ``_sent_http_request``) signs every
attempt of every operation with ``config.credentials_provider.get_credentials()`` and, after a failed
attempt, asks ``config.retryer.is_error_retryable(error)`` whether to send it again (rewinding a
seekable body itself; a non-seekable body is never retried). Both are public seams, so no private
hook is needed; the order of those calls, which scopes the retry to one operation, is listed in
``docs/sdk_hooks.md`` and pinned by a test:

* :class:`ManagedOssV2CredentialsProvider` hands out the current snapshot and remembers, per
  operation (a :mod:`contextvars` variable reset at each operation's first attempt), which one the
  attempt was signed with;
* :class:`ManagedOssV2Retryer` wraps the client's retryer: when an error is a rejected key
  (``InvalidAccessKeyId`` ... see :class:`~oss_plugin.OssAKExpireHandler`) it asks the one retry
  decision (:mod:`common_plugin.retry`) for a replacement of *that* snapshot and allows exactly one
  more attempt of that operation, without delay, if the key changed; otherwise it says "not
  retryable" and the client raises the original error. Every other error is judged by the wrapped
  retryer (default ``StandardRetryer``).

    config = oss.config.load_default()
    config.region, config.endpoint = "cn-hangzhou", "https://oss-cn-hangzhou.aliyuncs.com"
    client = oss.Client(configure(config, provider, "app-oss-ak"))

Limits: ``Config.retry_max_attempts`` overrides the retryer's attempt count; set it to at least 2 (or
leave it unset) or the retry after a rejection cannot happen (the provider still replaces the key,
so the next operation signs with the new one). The same holds when an STS token is replaced by a
permanent key: the SDK re-sends the first attempt's request, whose ``x-oss-security-token`` header
its signer never removes, so that one operation is not retried. If an ``operation_timeout`` expires during the
back-off before another attempt, the SDK gives up after ``retry_delay`` announced that attempt;
the next operation in that thread is then taken for its continuation (it may lose its own
rejection retry). With the asyncio client
(``alibabacloud_oss_v2.aio``) the SDK calls both hooks synchronously on the loop thread, so the one
refresh after a rejection blocks the loop for one fetch (a cache hit never does); warm the cache
with :func:`common_plugin.adapters.aio.get_async` before first use.

Thread-safety: both classes are safe to share between threads and clients; per-operation state lives
in a context variable, so concurrent operations never see each other's snapshot.
"""

from __future__ import annotations

import contextvars
import datetime
import logging

import alibabacloud_oss_v2 as oss
from alibabacloud_oss_v2.types import Credentials, Retryer
from alibabacloud_oss_v2.types import CredentialsProvider as OssCredentialsProvider

from common_plugin.ak_expire_handler import AKExpireHandler, as_expire_handler
from common_plugin.credentials import ManagedCredential
from common_plugin.masking import redact_exception
from common_plugin.provider import CredentialsProvider
from common_plugin.retry import is_rejection, record_retry, replacement_for

from .handler import OssAKExpireHandler

__all__ = ["ManagedOssV2CredentialsProvider", "ManagedOssV2Retryer", "configure"]

_LOGGER = logging.getLogger(__name__)
_WHAT = "an OSS request"


class _Operation:
    """One operation's rejection-retry state, scoped to that operation (never to a thread).

    The SDK calls, per operation: ``get_credentials`` before each attempt, ``is_error_retryable``
    after each failed one, and ``retry_delay`` only when it will really send another attempt. So
    ``retry_delay`` marks the next ``get_credentials`` as a continuation of this operation; any other
    ``get_credentials`` starts a new one. A "retry" that the SDK then does not send (its attempt
    budget was spent, e.g. ``retry_max_attempts=1``) therefore leaves nothing behind.
    """

    __slots__ = ("continuing", "owner", "retried", "retry_with", "used")

    def __init__(self, owner: ManagedOssV2CredentialsProvider, used: ManagedCredential) -> None:
        self.owner = owner
        self.used = used  # the snapshot the current attempt was signed with
        self.retry_with: ManagedCredential | None = None  # set by the retryer: a rejection retry is due
        self.retried = False  # this operation's one rejection retry has been sent
        self.continuing = False  # set by retry_delay: the SDK is about to send another attempt


_OPERATION: contextvars.ContextVar[_Operation | None] = contextvars.ContextVar(
    "managed_credentials_oss_v2_operation", default=None
)


class ManagedOssV2CredentialsProvider(OssCredentialsProvider):  # type: ignore[misc]
    """Gives an ``alibabacloud_oss_v2`` client the current key of one managed RAM credential secret.

    Args:
        provider: the cache the key is read from (one lock-free lookup per attempt).
        secret_name: the managed RAM credential secret.

    Thread-safe.
    """

    def __init__(self, provider: CredentialsProvider, secret_name: str) -> None:
        if not secret_name:
            raise ValueError("ManagedOssV2CredentialsProvider needs secret_name, a managed RAM credential")
        self._provider = provider
        self._secret_name = secret_name
        self._converted: tuple[ManagedCredential, Credentials] | None = None

    @property
    def provider(self) -> CredentialsProvider:
        return self._provider

    @property
    def secret_name(self) -> str:
        return self._secret_name

    def get_credentials(self) -> Credentials:
        """The SDK's hook, called once per attempt: the current snapshot, converted.

        Raises:
            SecretFetchError, MalformedSecretError, ProviderClosedError: as
                :meth:`CredentialsProvider.get` (the SDK wraps them in ``CredentialsFetchError``).
        """
        credential = self._provider.get(self._secret_name)
        operation = _OPERATION.get()
        if operation is not None and operation.owner is self and operation.continuing:
            operation.continuing = False  # another attempt of the same operation
            operation.used = credential
            if operation.retry_with is not None:  # and it is the one retry after a rejection
                operation.retry_with = None
                operation.retried = True
                record_retry(self._provider, self._secret_name, credential, what=_WHAT)
        else:
            _OPERATION.set(_Operation(self, credential))
        converted = self._converted
        if converted is not None and converted[0] is credential:
            return converted[1]
        expiration = (
            datetime.datetime.fromtimestamp(credential.expires_at, tz=datetime.timezone.utc)
            if credential.expires_at is not None
            else None
        )
        result = Credentials(
            credential.access_key_id, credential.access_key_secret, credential.security_token, expiration
        )
        self._converted = (credential, result)
        return result

    def __repr__(self) -> str:
        return f"ManagedOssV2CredentialsProvider(secret_name={self._secret_name!r})"


class ManagedOssV2Retryer(Retryer):  # type: ignore[misc]
    """A retryer that adds "refresh once, retry once if the key changed" to ``inner``.

    Args:
        credentials: the credentials provider the client signs with.
        inner: the retryer for every other error (default ``StandardRetryer()``).
        ak_expire_handler: judges rejected keys; default :class:`~oss_plugin.OssAKExpireHandler`.

    Thread-safe.
    """

    def __init__(
        self,
        credentials: ManagedOssV2CredentialsProvider,
        inner: Retryer | None = None,
        *,
        ak_expire_handler: object | None = None,
    ) -> None:
        self._credentials = credentials
        self._inner = inner if inner is not None else oss.retry.StandardRetryer()
        self._handler: AKExpireHandler = as_expire_handler(ak_expire_handler, OssAKExpireHandler())

    def _operation(self) -> _Operation | None:
        operation = _OPERATION.get()
        return operation if operation is not None and operation.owner is self._credentials else None

    def is_error_retryable(self, error: Exception) -> bool:
        # The SDK raises this error (wrapped) if no attempt follows; its snapshot of the body and
        # its headers echo x-oss-security-token after a SignatureDoesNotMatch.
        redact_exception(error)
        if not is_rejection(self._handler, error):
            return bool(self._inner.is_error_retryable(error))
        operation = self._operation()
        if operation is None or operation.retried:
            return False  # not signed by us, or the one retry is spent: the client raises this error
        credentials = self._credentials
        fresh = replacement_for(
            credentials.provider, credentials.secret_name, operation.used, what=_WHAT, record=False
        )
        if fresh is None:
            return False
        if operation.used.security_token and not fresh.security_token:
            # The SDK re-sends the first attempt's request, and its signer only ever adds
            # x-oss-security-token: the retry would carry the STS token beside a permanent key,
            # which OSS refuses. The next operation is a new request and signs cleanly.
            _LOGGER.info(
                "%s for secret %s was rejected; the next operation signs with the new key %s, but "
                "this one cannot drop its STS token header, so its error stands",
                _WHAT,
                credentials.secret_name,
                fresh.masked_access_key_id,
            )
            return False
        # Recorded by get_credentials when the SDK really sends it (it may have no attempt left).
        operation.retry_with = fresh
        return True

    def max_attempts(self) -> int:
        return max(int(self._inner.max_attempts()), 2)

    def retry_delay(self, attempt: int, error: Exception) -> float:
        operation = self._operation()
        if operation is not None:
            operation.continuing = True  # the SDK sends another attempt of this operation next
            if operation.retry_with is not None:
                return 0.0  # a new key, not an overloaded server: no back-off
        return float(self._inner.retry_delay(attempt, error))

    def __repr__(self) -> str:
        return f"ManagedOssV2Retryer({self._credentials!r}, inner={self._inner!r})"


def configure(
    config: oss.config.Config,
    provider: CredentialsProvider,
    secret_name: str,
    *,
    ak_expire_handler: object | None = None,
) -> oss.config.Config:
    """Point ``config`` at a managed credential: set its credentials provider and wrap its retryer.

    Returns ``config`` (changed in place) for ``oss.Client(configure(config, provider, name))``.
    """
    credentials = ManagedOssV2CredentialsProvider(provider, secret_name)
    config.credentials_provider = credentials
    config.retryer = ManagedOssV2Retryer(credentials, config.retryer, ak_expire_handler=ak_expire_handler)
    return config

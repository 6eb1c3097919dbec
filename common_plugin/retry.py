"""The one decision after a failed cloud call: retry it, and with which key.

Every SDK adapter asks here and keeps only the work that is its SDK's own (signing with the
snapshot it is given, rewinding a body, giving up after one retry):

* ``sdk_core_plugin.ProxyAcsClient._implementation_of_do_action``;
* ``oss_plugin._retry.ManagedCaller.call`` (``ProxyBucket`` and ``ProxyService``);
* ``oss_plugin.v2.ManagedOssV2Retryer.is_error_retryable``;
* ``common_plugin.adapters.tea.call_with_refresh`` and, through
  :func:`common_plugin.adapters.aio.decide_retry_async`, ``call_with_refresh_async``.

The rule, in the order it is applied:

1. The :class:`~common_plugin.ak_expire_handler.AKExpireHandler` judges the error
   (:func:`is_rejection`; a handler that raises says "no").
2. The provider is asked for one replacement of the *exact snapshot* the failed call was signed
   with (:meth:`CredentialsProvider.refresh_rejected`): single-flight, so any number of threads
   that saw the same key rejected cause one fetch, and a key that comes back unchanged is not
   fetched again for a while.
3. The call is retried only with a *different* key: AccessKeyId, AccessKeySecret or SecurityToken
   differ (:func:`~common_plugin.credentials.same_key`). A failed fetch, the same key back, or a
   provider closed meanwhile mean no retry: the caller's original error stands.
4. The adapter's ``rewind`` (if any) puts the request body back; a body that cannot be rewound
   cancels the retry (the provider keeps the new key, so the next call signs with it).
5. The retry is logged once at INFO (masked key id) and recorded: the ``retries`` counter and a
   ``RETRY_PERFORMED`` event of :meth:`CredentialsProvider.status` /
   :meth:`~CredentialsProvider.add_event_listener`.

Thread-safety: stateless; everything here may be called from any thread at once. Each call's
retry state (which snapshot it used, whether its one retry is spent) belongs to the adapter's
operation, never to a client or a thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from .ak_expire_handler import AKExpireHandler, judge_safely
from .credentials import ManagedCredential, same_key
from .exceptions import ProviderClosedError

if TYPE_CHECKING:  # an adapter imports this module before any provider exists
    from .provider import CredentialsProvider

__all__ = ["Rewind", "accept_replacement", "decide_retry", "is_rejection", "record_retry", "replacement_for"]

_LOGGER = logging.getLogger(__name__)

Rewind = Callable[[], bool]
"""Puts the request body back where the first attempt started; ``False`` if it cannot."""


def is_rejection(handler: AKExpireHandler, error: BaseException) -> bool:
    """Step 1: whether ``handler`` judges ``error`` a rejected key (a handler that raises: no)."""
    return judge_safely(handler, error)


def decide_retry(
    provider: CredentialsProvider,
    secret_name: str,
    used: ManagedCredential,
    error: BaseException,
    handler: AKExpireHandler,
    *,
    what: str = "a call",
    rewind: Rewind | None = None,
    record: bool = True,
) -> ManagedCredential | None:
    """Whether to retry a call that failed with ``error`` after signing with ``used``, and with which key.

    Args:
        provider: the provider ``used`` came from.
        secret_name: the managed RAM credential secret.
        used: the exact snapshot the failed call was signed with.
        error: what the call raised (or returned as its error).
        handler: judges ``error``.
        what: the call, for the log line (``"DescribeRegions"``, ``"a PUT request to bucket 'b'"``).
        rewind: puts the request body back; called only when there is a new key to retry with.
        record: log and count the retry now (``False`` for an SDK that decides later whether it
            really sends it; it then calls :func:`record_retry` itself).

    Returns:
        The snapshot to sign the one retry with, or ``None``: do not retry, let the original
        error stand.

    Raises:
        Nothing of its own: a faulty handler, a failed fetch and a closed provider all mean ``None``.
    """
    if not is_rejection(handler, error):
        return None
    return replacement_for(provider, secret_name, used, what=what, rewind=rewind, record=record)


def replacement_for(
    provider: CredentialsProvider,
    secret_name: str,
    used: ManagedCredential,
    *,
    what: str = "a call",
    rewind: Rewind | None = None,
    record: bool = True,
) -> ManagedCredential | None:
    """Steps 2 to 5 of :func:`decide_retry`, for an error already judged a rejected key.

    For an SDK that must know the judgement itself (the OSS v2 retryer hands other errors to the
    SDK's own retryer); everyone else calls :func:`decide_retry`.
    """
    try:
        fresh = provider.refresh_rejected(secret_name, used)
    except ProviderClosedError:
        fresh = None  # closed meanwhile: the caller's original error stands
    return accept_replacement(provider, secret_name, used, fresh, what=what, rewind=rewind, record=record)


def accept_replacement(
    provider: CredentialsProvider,
    secret_name: str,
    used: ManagedCredential,
    fresh: ManagedCredential | None,
    *,
    what: str = "a call",
    rewind: Rewind | None = None,
    record: bool = True,
) -> ManagedCredential | None:
    """Steps 3 to 5, given the provider's answer ``fresh``: shared by the sync decision and its
    asyncio twin (:func:`common_plugin.adapters.aio.decide_retry_async`), which obtains ``fresh``
    without blocking the event loop."""
    if fresh is None or same_key(fresh, used):
        return None
    if rewind is not None and not rewind():
        _LOGGER.info(
            "%s for secret %s was rejected; the next call signs with the new key %s, but this one's "
            "body is a stream that cannot be re-sent, so its error stands",
            what,
            secret_name,
            fresh.masked_access_key_id,
        )
        return None
    if record:
        record_retry(provider, secret_name, fresh, what=what)
    return fresh


def record_retry(
    provider: CredentialsProvider, secret_name: str, fresh: ManagedCredential, *, what: str = "a call"
) -> None:
    """Step 5: log the retry and count it (``retries``, a ``RETRY_PERFORMED`` event)."""
    _LOGGER.info(
        "retrying %s for secret %s with the refreshed key %s", what, secret_name, fresh.masked_access_key_id
    )
    provider._record_retry(secret_name, fresh)

"""Logging handlers that ship records to Log Service with a managed key: no AccessKey in logging config.

``aliyun.log.QueuedLogHandler`` (a background thread sends batches) and ``SimpleLogHandler`` (each
record is sent as it is logged) take ``access_key_id`` and ``access_key``, so a logging config (a
``dictConfig`` dict, a ``fileConfig`` file) holds a long-lived key. Their managed twins take the
*name* of a managed RAM credential secret in the same place::

    "handlers": {
        "sls": {
            "class": "log_plugin.ManagedQueuedLogHandler",
            "secret_name": "app-sls-ak",
            "end_point": "cn-hangzhou.log.aliyuncs.com",
            "project": "my-project",
            "log_store": "app-logs",
        }
    }

Every other argument is the SDK handler's. The client is a :class:`~log_plugin.ProxyLogClient`,
created on the first record (as the SDK does), so a rotated or revoked key is followed with the same
one refresh and one retry. SDK hook: ``SimpleLogHandler.create_client`` (which the SDK calls lazily
from ``send``) and the ``client`` attribute it sets (aliyun-log-python-sdk 0.9.52; see
docs/sdk_hooks.md).

:meth:`close` (called by ``logging.shutdown`` at exit) sends what is queued, then releases the
client's lease. Thread-safe as the SDK handlers are.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from aliyun.log import QueuedLogHandler, SimpleLogHandler
from aliyun.log.version import LOGGING_HANDLER_USER_AGENT

from common_plugin.exceptions import ProviderClosedError
from common_plugin.provider import CredentialsProvider

from .client import ProxyLogClient

__all__ = ["ManagedQueuedLogHandler", "ManagedSimpleLogHandler"]


class _ManagedClient:
    """What both handlers add: the secret instead of a key, the lazily created proxy client, close."""

    secret_name: str
    end_point: str
    auth_version: str
    region: str
    client: Any
    _managed_provider: CredentialsProvider | None
    _managed_handler: object | None
    _client_lock: threading.Lock
    _handler_closed: bool

    def __init__(
        self,
        secret_name: str,
        end_point: str,
        project: str,
        log_store: str,
        topic: str | None = None,
        fields: Any = None,
        *,
        provider: CredentialsProvider | None = None,
        ak_expire_handler: object | None = None,
        **kwargs: Any,
    ) -> None:
        self._init_managed(secret_name, provider, ak_expire_handler)
        # The SDK handler this mixin precedes in the class's bases, without a key.
        super().__init__(  # type: ignore[call-arg]
            end_point, None, None, project, log_store, topic=topic, fields=fields, **kwargs
        )

    def _init_managed(
        self, secret_name: str, provider: CredentialsProvider | None, ak_expire_handler: object | None
    ) -> None:
        # Set before the SDK's __init__: QueuedLogHandler starts its sending thread there.
        if not secret_name:
            raise ValueError(f"{type(self).__name__} needs secret_name, the managed RAM credential secret")
        self.secret_name = secret_name
        self._managed_provider = provider
        self._managed_handler = ak_expire_handler
        self._client_lock = threading.Lock()
        self._handler_closed = False

    def create_client(self) -> None:
        """The SDK's hook, called on the first record: a :class:`~log_plugin.ProxyLogClient`."""
        with self._client_lock:
            if self._handler_closed:
                raise ProviderClosedError(f"this {type(self).__name__} was closed")
            if self.client is not None:
                return
            client = ProxyLogClient(
                self.secret_name,
                self.end_point,
                auth_version=self.auth_version,
                region=self.region,
                ak_expire_handler=self._managed_handler,
                provider=self._managed_provider,
            )
            client.set_user_agent(LOGGING_HANDLER_USER_AGENT)
            self.client = client

    def _release_client(self) -> None:
        with self._client_lock:
            self._handler_closed = True
            client, self.client = self.client, None
        if isinstance(client, ProxyLogClient):
            client.shutdown()


class ManagedSimpleLogHandler(_ManagedClient, SimpleLogHandler):
    """``aliyun.log.SimpleLogHandler`` with a managed key: sends each record as it is logged.

    Args:
        secret_name: the managed RAM credential secret (in place of ``access_key_id``/``access_key``).
        end_point, project, log_store, topic, fields: as ``SimpleLogHandler``.
        provider: the credentials provider; default: a lease on the process-wide default provider,
            taken with the first record and released by :meth:`close`.
        ak_expire_handler: as :class:`~log_plugin.ProxyLogClient`.
        **kwargs: the other ``SimpleLogHandler`` arguments (``extract_json``, ``auth_version``,
            ``region``, ``level``, ...).
    """

    def close(self) -> None:
        """Release the client's lease (idempotent); records logged afterwards go to ``handleError``."""
        try:
            self._release_client()
        finally:
            super().close()

    def __repr__(self) -> str:
        return (
            f"<ManagedSimpleLogHandler secret_name={self.secret_name!r} ({logging.getLevelName(self.level)})>"
        )


class ManagedQueuedLogHandler(_ManagedClient, QueuedLogHandler):
    """``aliyun.log.QueuedLogHandler`` with a managed key: a background thread sends batches.

    Args:
        secret_name: the managed RAM credential secret (in place of ``access_key_id``/``access_key``).
        end_point, project, log_store, topic, fields: as ``QueuedLogHandler``.
        provider, ak_expire_handler: as :class:`ManagedSimpleLogHandler`.
        **kwargs: the other ``QueuedLogHandler`` arguments (``queue_size``, ``put_wait``,
            ``close_wait``, ``batch_size``, ``auth_version``, ``region``, ``level``, ...).
    """

    def close(self) -> None:
        """Send what is queued (for up to ``close_wait`` seconds, as the SDK's ``stop``), then release
        the client's lease. Idempotent."""
        try:
            self.stop()  # type: ignore[no-untyped-call]
            self._release_client()
        finally:
            super().close()

    def __repr__(self) -> str:
        return (
            f"<ManagedQueuedLogHandler secret_name={self.secret_name!r} ({logging.getLevelName(self.level)})>"
        )

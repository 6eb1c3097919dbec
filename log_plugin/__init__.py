"""log_plugin: Log Service (``aliyun-log-python-sdk``) clients that sign with a managed RAM credential.

``ProxyLogClient`` is a drop-in for ``aliyun.log.LogClient``; ``ManagedQueuedLogHandler`` and
``ManagedSimpleLogHandler`` are the SDK's logging handlers with a secret name in place of a key;
``ManagedLogCredentialsProvider`` plugs a managed credential into any ``LogClient``;
``LogAKExpireHandler`` is the default judgement of a rejected key. Install with the ``log`` extra.
"""

from __future__ import annotations

import logging

from .client import ProxyLogClient
from .credentials_provider import ManagedLogCredentialsProvider
from .handler import LogAKExpireHandler
from .logging_handlers import ManagedQueuedLogHandler, ManagedSimpleLogHandler

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "LogAKExpireHandler",
    "ManagedLogCredentialsProvider",
    "ManagedQueuedLogHandler",
    "ManagedSimpleLogHandler",
    "ProxyLogClient",
]

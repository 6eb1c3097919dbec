"""oss_plugin: ``oss2`` clients that sign with a managed RAM credential from Secrets Manager.

``ProxyBucket`` and ``ProxyService`` are drop-ins for ``oss2.Bucket`` and ``oss2.Service``;
``ManagedOssCredentialsProvider`` plugs a managed credential into any ``oss2`` auth;
``OssAKExpireHandler`` is the default judgement of a rejected key.
"""

from __future__ import annotations

import logging

from .credentials_provider import ManagedOssCredentialsProvider
from .handler import OssAKExpireHandler
from .proxy_bucket import ProxyBucket
from .proxy_service import ProxyService

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "ManagedOssCredentialsProvider",
    "OssAKExpireHandler",
    "ProxyBucket",
    "ProxyService",
]

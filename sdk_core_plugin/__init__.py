"""Managed credentials for aliyunsdkcore: :class:`ProxyAcsClient`, a drop-in ``AcsClient``."""

from __future__ import annotations

import logging

from .proxy_acs_client import ProxyAcsClient, SdkCoreAKExpireHandler

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["ProxyAcsClient", "SdkCoreAKExpireHandler"]

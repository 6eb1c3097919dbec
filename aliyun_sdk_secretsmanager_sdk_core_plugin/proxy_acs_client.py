"""Compatibility path of the suite we replace: ``ProxyAcsClient`` lives in :mod:`sdk_core_plugin`."""

from sdk_core_plugin.proxy_acs_client import ProxyAcsClient

__all__ = ["ProxyAcsClient"]

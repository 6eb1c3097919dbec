"""Compatibility path of the suite we replace: ``ProxyBucket`` lives in :mod:`oss_plugin`."""

from oss_plugin.proxy_bucket import ProxyBucket

__all__ = ["ProxyBucket"]

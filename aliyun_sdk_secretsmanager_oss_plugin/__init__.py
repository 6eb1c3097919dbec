"""Compatibility package: the import paths of aliyun-oss-python-sdk-managed-credentials-provider.

New code should import from :mod:`oss_plugin`.
"""

from oss_plugin import OssAKExpireHandler, ProxyBucket, ProxyService

__all__ = ["OssAKExpireHandler", "ProxyBucket", "ProxyService"]

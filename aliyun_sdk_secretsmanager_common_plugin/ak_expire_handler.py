"""Compatibility path of the suite we replace: ``AKExpireHandler`` lives in :mod:`common_plugin`."""

from common_plugin.ak_expire_handler import AKExpireHandler

__all__ = ["AKExpireHandler"]

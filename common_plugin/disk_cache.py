"""Deprecated import path, kept for callers of 0.1: use :mod:`common_plugin.storage.disk_cache`."""

from __future__ import annotations

import warnings

from .storage.disk_cache import *  # noqa: F403
from .storage.disk_cache import __all__  # noqa: F401

warnings.warn(
    "common_plugin.disk_cache is deprecated; import common_plugin.storage.disk_cache",
    DeprecationWarning,
    stacklevel=2,
)

"""Deprecated import path, kept for callers of 0.1: use :mod:`common_plugin.storage.cache_keys`."""

from __future__ import annotations

import warnings

from .storage.cache_keys import *  # noqa: F403
from .storage.cache_keys import __all__  # noqa: F401

warnings.warn(
    "common_plugin.cache_keys is deprecated; import common_plugin.storage.cache_keys",
    DeprecationWarning,
    stacklevel=2,
)

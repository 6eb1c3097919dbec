"""Deprecated import path, kept for callers of 0.1: use :mod:`common_plugin.adapters.tea`."""

from __future__ import annotations

import warnings

from .adapters.tea import *  # noqa: F403
from .adapters.tea import __all__  # noqa: F401

warnings.warn(
    "common_plugin.tea is deprecated; import common_plugin.adapters.tea",
    DeprecationWarning,
    stacklevel=2,
)

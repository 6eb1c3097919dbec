"""Deprecated import path, kept for callers of 0.1: use :mod:`common_plugin.adapters.aio`."""

from __future__ import annotations

import warnings

from .adapters.aio import *  # noqa: F403
from .adapters.aio import __all__  # noqa: F401

warnings.warn(
    "common_plugin.aio is deprecated; import common_plugin.adapters.aio",
    DeprecationWarning,
    stacklevel=2,
)

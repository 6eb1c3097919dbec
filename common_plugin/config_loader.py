"""Deprecated import path, kept for callers of 0.1: use :mod:`common_plugin.config.config_loader`."""

from __future__ import annotations

import warnings

from .config.config_loader import *  # noqa: F403
from .config.config_loader import __all__  # noqa: F401

warnings.warn(
    "common_plugin.config_loader is deprecated; import common_plugin.config.config_loader",
    DeprecationWarning,
    stacklevel=2,
)

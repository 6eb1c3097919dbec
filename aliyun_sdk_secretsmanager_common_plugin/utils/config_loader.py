"""Compatibility shim: ``ConfigLoader`` now lives in :mod:`common_plugin.config.config_loader`."""

from __future__ import annotations

from common_plugin.config.config_loader import ConfigLoader

__all__ = ["ConfigLoader"]

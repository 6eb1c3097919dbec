"""The process-wide name of the properties file that :func:`~.loading.load_config` reads by default.

Module-level state guarded by a lock, so any thread may set or read it; it is read each time a
configuration is loaded. :class:`~.config_loader.ConfigLoader` is the public face of it.
"""

from __future__ import annotations

import threading

__all__ = ["DEFAULT_CONFIG_NAME", "get_config_name", "reset_config_name", "set_config_name"]

DEFAULT_CONFIG_NAME = "managed_credentials_providers.properties"

_lock = threading.Lock()
_config_name = DEFAULT_CONFIG_NAME


def set_config_name(name: str) -> None:
    """Make ``name`` the default file (a checked, non-empty path)."""
    global _config_name
    with _lock:
        _config_name = name


def get_config_name() -> str:
    """The properties file name in effect."""
    with _lock:
        return _config_name


def reset_config_name() -> None:
    """Go back to :data:`DEFAULT_CONFIG_NAME`."""
    set_config_name(DEFAULT_CONFIG_NAME)

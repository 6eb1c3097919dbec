"""``ConfigLoader``: the process-wide name of the properties file, as in the system we replace.

The original API is kept: call ``ConfigLoader.set_config_name("custom-config")`` before the first
client is created to read another file (a path relative to the current working directory, or
absolute). The name is module-level state guarded by a lock, so any thread may set or read it; it
is read each time a configuration is loaded, not remembered by clients already built.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

from .config import DEFAULT_CONFIG_NAME, ProviderConfig, load_config
from .exceptions import ConfigError

__all__ = ["ConfigLoader"]

_lock = threading.Lock()
_config_name = DEFAULT_CONFIG_NAME


class ConfigLoader:
    """Names the properties file that :func:`~common_plugin.config.load_config` reads by default.

    Thread-safe. All methods are static; the class is never instantiated.
    """

    @staticmethod
    def set_config_name(name: str | os.PathLike[str]) -> None:
        """Read the configuration from ``name`` (relative to the working directory, or absolute).

        Raises:
            ConfigError: ``name`` is empty.
        """
        text = os.fspath(name)
        if not isinstance(text, str) or not text.strip():
            raise ConfigError("ConfigLoader.set_config_name needs a non-empty file path")
        global _config_name
        with _lock:
            _config_name = text

    @staticmethod
    def get_config_name() -> str:
        """The properties file name in effect (default ``managed_credentials_providers.properties``)."""
        with _lock:
            return _config_name

    @staticmethod
    def reset_config_name() -> None:
        """Go back to the default name (for tests)."""
        global _config_name
        with _lock:
            _config_name = DEFAULT_CONFIG_NAME

    @staticmethod
    def load(environ: Mapping[str, str] | None = None) -> ProviderConfig:
        """Load the configuration from the named file and the environment (see ``load_config``)."""
        return load_config(None, environ=environ)

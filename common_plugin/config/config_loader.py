"""``ConfigLoader``: the process-wide name of the properties file, as in the system we replace.

The original API is kept: call ``ConfigLoader.set_config_name("custom-config")`` before the first
client is created to read another file (a path relative to the current working directory, or
absolute). The name is module-level state (:mod:`.file_name`) guarded by a lock, so any thread may
set or read it; it is read each time a configuration is loaded, not remembered by clients already
built.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..exceptions import ConfigError
from . import file_name
from .loading import ProviderConfig, load_config

__all__ = ["ConfigLoader"]


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
        file_name.set_config_name(text)

    @staticmethod
    def get_config_name() -> str:
        """The properties file name in effect (default ``managed_credentials_providers.properties``)."""
        return file_name.get_config_name()

    @staticmethod
    def reset_config_name() -> None:
        """Go back to the default name (for tests)."""
        file_name.reset_config_name()

    @staticmethod
    def load(environ: Mapping[str, str] | None = None) -> ProviderConfig:
        """Load the configuration from the named file and the environment (see ``load_config``)."""
        return load_config(None, environ=environ)

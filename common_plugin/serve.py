"""Deprecated import path, kept for callers of 0.1: the server is :mod:`common_plugin.adapters.endpoint`,
the command :mod:`common_plugin.cli.serve`."""

from __future__ import annotations

import warnings

from .adapters.endpoint import TOKEN_ENV, CredentialsServer, credentials_document
from .cli.serve import add_serve_command, run_serve

__all__ = ["TOKEN_ENV", "CredentialsServer", "add_serve_command", "credentials_document", "run_serve"]

warnings.warn(
    "common_plugin.serve is deprecated; import common_plugin.adapters.endpoint (the server) or "
    "common_plugin.cli.serve (the command)",
    DeprecationWarning,
    stacklevel=2,
)

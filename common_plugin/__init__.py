"""Managed RAM credentials from Alibaba Cloud Secrets Manager, cached and refreshed for SDK clients."""

from __future__ import annotations

import logging

from .clock import ManualClock, SystemClock
from .credentials import ManagedCredential, SecretValue
from .exceptions import (
    ConfigError,
    MalformedSecretError,
    ManagedCredentialsError,
    ProviderClosedError,
    SecretFetchError,
)
from .masking import mask_access_key_id

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "ConfigError",
    "MalformedSecretError",
    "ManagedCredential",
    "ManagedCredentialsError",
    "ManualClock",
    "ProviderClosedError",
    "SecretFetchError",
    "SecretValue",
    "SystemClock",
    "mask_access_key_id",
]

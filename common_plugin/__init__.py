"""Managed RAM credentials from Alibaba Cloud Secrets Manager, cached and refreshed for SDK clients.

The pieces, from configuration to the key a client signs with::

    load_config / ConfigLoader  ->  ProviderConfig      (validated once; errors name the key)
    provider_from_config        ->  CredentialsProvider (cache, single-flight refresh, schedule)
    CredentialsProvider.get     ->  ManagedCredential   (immutable; id and secret of one version)

``sdk_core_plugin.ProxyAcsClient`` and ``oss_plugin.ProxyBucket`` use these for you.
"""

from __future__ import annotations

import logging

from .ak_expire_handler import AKExpireHandler, ErrorCodeExpireHandler
from .bootstrap import provider_from_config
from .clock import ManualClock, SystemClock
from .config.config_loader import ConfigLoader
from .config.loading import ProviderConfig, load_config
from .credentials import ManagedCredential, SecretValue
from .exceptions import (
    ConfigError,
    CredentialExpiredError,
    FetchDeadlineError,
    InsecureTransportWarning,
    MalformedSecretError,
    ManagedCredentialsError,
    ProviderClosedError,
    SecretFetchError,
)
from .manager import default_manager, set_default_provider_factory
from .masking import mask_access_key_id
from .observability import CredentialEvent, EventKind, ProviderStatus, SecretStatus
from .provider import CredentialsProvider
from .refresh_policy import RefreshPolicy
from .scheduler import BackgroundScheduler, ManualScheduler, Scheduler
from .sources import SecretSource

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "AKExpireHandler",
    "BackgroundScheduler",
    "ConfigError",
    "ConfigLoader",
    "CredentialEvent",
    "CredentialExpiredError",
    "CredentialsProvider",
    "ErrorCodeExpireHandler",
    "EventKind",
    "FetchDeadlineError",
    "InsecureTransportWarning",
    "MalformedSecretError",
    "ManagedCredential",
    "ManagedCredentialsError",
    "ManualClock",
    "ManualScheduler",
    "ProviderClosedError",
    "ProviderConfig",
    "ProviderStatus",
    "RefreshPolicy",
    "Scheduler",
    "SecretFetchError",
    "SecretSource",
    "SecretStatus",
    "SecretValue",
    "SystemClock",
    "default_manager",
    "load_config",
    "mask_access_key_id",
    "provider_from_config",
    "set_default_provider_factory",
]

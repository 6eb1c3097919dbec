"""Managed RAM credentials from Alibaba Cloud Secrets Manager, cached and refreshed for SDK clients.

The pieces, from configuration to the key a client signs with::

    load_config / ConfigLoader  ->  ProviderConfig      (validated once; errors name the key)
    provider_from_config        ->  CredentialsProvider (cache, single-flight refresh, schedule)
    CredentialsProvider.get     ->  ManagedCredential   (immutable; id and secret of one version)

``sdk_core_plugin.ProxyAcsClient`` and ``oss_plugin.ProxyBucket`` use these for you.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ._lazy import lazy_exports

if TYPE_CHECKING:
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

# Where each public name lives. They are imported on first access (PEP 562), so that importing
# one submodule - as the SDK plugins do - does not load configuration parsing, sources and the
# scheduler with it.
_HOMES = {
    "AKExpireHandler": ".ak_expire_handler",
    "BackgroundScheduler": ".scheduler",
    "ConfigError": ".exceptions",
    "ConfigLoader": ".config.config_loader",
    "CredentialEvent": ".observability",
    "CredentialExpiredError": ".exceptions",
    "CredentialsProvider": ".provider",
    "ErrorCodeExpireHandler": ".ak_expire_handler",
    "EventKind": ".observability",
    "FetchDeadlineError": ".exceptions",
    "InsecureTransportWarning": ".exceptions",
    "MalformedSecretError": ".exceptions",
    "ManagedCredential": ".credentials",
    "ManagedCredentialsError": ".exceptions",
    "ManualClock": ".clock",
    "ManualScheduler": ".scheduler",
    "ProviderClosedError": ".exceptions",
    "ProviderConfig": ".config.loading",
    "ProviderStatus": ".observability",
    "RefreshPolicy": ".refresh_policy",
    "Scheduler": ".scheduler",
    "SecretFetchError": ".exceptions",
    "SecretSource": ".sources",
    "SecretStatus": ".observability",
    "SecretValue": ".credentials",
    "SystemClock": ".clock",
    "default_manager": ".manager",
    "load_config": ".config.loading",
    "mask_access_key_id": ".masking",
    "provider_from_config": ".bootstrap",
    "set_default_provider_factory": ".manager",
}


__getattr__ = lazy_exports(__name__, _HOMES)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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

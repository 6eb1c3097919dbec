"""The default provider: configuration file → secret sources → provider, as the wrappers use it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .clock import SYSTEM_CLOCK, Clock
from .provider import CredentialsProvider
from .refresh_policy import RefreshPolicy
from .sources.factory import build_source

if TYPE_CHECKING:
    from .config.loading import ProviderConfig
    from .scheduler import Scheduler

__all__ = ["build_default_provider", "provider_from_config"]

_LOGGER = logging.getLogger(__name__)


def provider_from_config(
    config: ProviderConfig,
    *,
    scheduler: Scheduler | None = None,
    clock: Clock = SYSTEM_CLOCK,
    preload: bool = True,
) -> CredentialsProvider:
    """A provider for ``config`` that owns its sources.

    With ``preload``, the ``secret_names`` are fetched now; a failure is logged, not raised: the
    first ``get`` of that secret fetches again and raises a typed error.
    """
    policy = RefreshPolicy(
        default_interval_seconds=config.refresh_interval_seconds,
        min_interval_seconds=config.min_refresh_interval_seconds,
        rotation_spread_seconds=config.rotation_spread_seconds,
        rotation_spread_fraction=config.rotation_spread_fraction,
    )
    store = None
    if config.cache_dir is not None:
        from .storage.cache_keys import load_decryptor_class
        from .storage.disk_cache import EncryptedFileStore

        decryptor = load_decryptor_class(config.cache_key_decryptor or "env").from_config(config)
        store = EncryptedFileStore(config.cache_dir, decryptor)
    provider = CredentialsProvider(
        build_source(config), scheduler=scheduler, clock=clock, policy=policy, owns_source=True, store=store
    )
    if preload and config.secret_names:
        try:
            provider.preload(config.secret_names)
        except Exception:  # noqa: BLE001 - preload is best effort; preload() logged each failure
            _LOGGER.debug("preload of secret_names incomplete; failed secrets are fetched on first use")
    return provider


def build_default_provider() -> CredentialsProvider:
    """Load the configuration named by :class:`~common_plugin.config.config_loader.ConfigLoader` and build
    a provider from it. Raises :class:`~common_plugin.exceptions.ConfigError` on a bad config.

    The ``secret_names`` are preloaded in the background (a job on the provider's scheduler), so
    building touches no network: the first client gets its lease at once, and a first ``get`` of a
    secret still being preloaded joins that fetch.
    """
    from .config.config_loader import ConfigLoader

    config = ConfigLoader.load()
    provider = provider_from_config(config, preload=False)
    if config.secret_names:
        provider.preload(config.secret_names, background=True)
    return provider

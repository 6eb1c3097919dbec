"""Configuration: the properties file and the environment, validated once into a frozen
:class:`ProviderConfig`.

The bottom layer of the package: it imports nothing from the other layers (sources, the provider,
storage, adapters, the command line), only the shared exceptions, masking and credential-parsing
helpers. Modules: :mod:`.properties` (Java-properties syntax), :mod:`.validation` (per-value checks),
:mod:`.endpoints` (DKMS instances and KMS regions), :mod:`.kms_instances` (KMS instances reached
with RAM credentials), :mod:`.gateway_credentials` (``credentials_type``), :mod:`.loading`
(:func:`load_config`) and :mod:`.config_loader`
(:class:`ConfigLoader`, the process-wide file name of the suite we replace).
"""

from __future__ import annotations

from .config_loader import ConfigLoader
from .loading import (
    DEFAULT_CONFIG_NAME,
    KNOWN_KEYS,
    DkmsInstanceConfig,
    GatewayCredentialsConfig,
    KmsRegionConfig,
    ProviderConfig,
    RamInstanceConfig,
    load_config,
)

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "KNOWN_KEYS",
    "ConfigLoader",
    "DkmsInstanceConfig",
    "GatewayCredentialsConfig",
    "KmsRegionConfig",
    "ProviderConfig",
    "RamInstanceConfig",
    "load_config",
]

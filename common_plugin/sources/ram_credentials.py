"""The sources for KMS instances reached with RAM credentials, and the credential that signs for them.

``credentials_type`` becomes an ``alibabacloud_credentials`` provider, the kind the Tea OpenAPI
client asks for a key on every request:

* ``ak``: ``StaticAKCredentialsProvider``;
* ``sts`` / ``ram_role``: ``RamRoleArnCredentialsProvider`` (AssumeRole with the configured
  AccessKey, at ``sts_endpoint`` when set; the STS key is cached and refreshed before it expires);
* ``ecs_ram_role``: ``EcsRamRoleCredentialsProvider`` (the instance metadata service, IMDSv2 first),
  with its background prefetch off, so the library starts no thread of its own here.

One provider serves every instance of a configuration, so an STS key is assumed once, not once per
instance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigError
from .base import SecretSource
from .kms_instance import KmsInstanceSource

if TYPE_CHECKING:
    from ..config.loading import GatewayCredentialsConfig, ProviderConfig

__all__ = ["credentials_provider", "ram_instance_sources"]

DEFAULT_ROLE_SESSION_NAME = "managed-credentials-provider"
_EXTRA_HINT = "pip install 'alibabacloud-managed-credentials-providers[tea]'"


def ram_instance_sources(config: ProviderConfig) -> list[SecretSource]:
    """One :class:`KmsInstanceSource` per entry of ``config.ram_instances``, in order.

    Raises:
        ConfigError: the ``tea`` extra is not installed, or ``credentials_type`` cannot sign for an
            instance (the loader has already refused that; checked again for configs built in code).
    """
    if not config.ram_instances:
        return []
    first = config.ram_instances[0].label or "cache_client_dkms_config_info"
    try:
        import alibabacloud_credentials  # noqa: F401
        import alibabacloud_tea_openapi  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"{first} is a KMS instance reached with RAM credentials, which needs "
            f"alibabacloud-tea-openapi and alibabacloud-credentials: {_EXTRA_HINT}",
            key="cache_client_dkms_config_info",
        ) from None
    if config.credentials is None:
        raise ConfigError(
            f"{first} is reached with RAM credentials: set credentials_type and its keys",
            key="credentials_type",
        )
    timeout = config.request_timeout_seconds
    provider = credentials_provider(config.credentials, config.sts_endpoint, timeout)
    sources: list[SecretSource] = []
    for instance in config.ram_instances:
        protocol, endpoint = "https", instance.endpoint
        if endpoint.startswith(("http://", "https://")):
            protocol, endpoint = endpoint.split("://", 1)
        sources.append(
            KmsInstanceSource(
                region_id=instance.region_id,
                endpoint=endpoint,
                credentials_provider=provider,
                ca_file_path=str(instance.ca_file_path) if instance.ca_file_path else None,
                timeout_seconds=timeout,
                protocol=protocol,
            )
        )
    return sources


def credentials_provider(
    credentials: GatewayCredentialsConfig, sts_endpoint: str | None = None, timeout_seconds: float = 10.0
) -> Any:
    """The ``alibabacloud_credentials`` provider for ``credentials_type`` (see the module docstring).

    Raises:
        ConfigError: a type that cannot sign OpenAPI calls to an instance (``client_key``).
    """
    from alibabacloud_credentials import provider as providers
    from alibabacloud_credentials.http import HttpOptions

    timeout_ms = max(1, int(timeout_seconds * 1000))
    http_options = HttpOptions(connect_timeout=timeout_ms, read_timeout=timeout_ms)
    kind = credentials.type
    if kind == "ak":
        return providers.StaticAKCredentialsProvider(
            access_key_id=credentials.access_key_id, access_key_secret=credentials.access_key_secret
        )
    if kind in ("sts", "ram_role"):
        return providers.RamRoleArnCredentialsProvider(
            access_key_id=credentials.access_key_id,
            access_key_secret=credentials.access_key_secret,
            role_arn=credentials.role_arn,
            role_session_name=credentials.role_session_name or DEFAULT_ROLE_SESSION_NAME,
            sts_endpoint=sts_endpoint or None,
            http_options=http_options,
        )
    if kind == "ecs_ram_role":
        return providers.EcsRamRoleCredentialsProvider(
            role_name=credentials.role_name, http_options=http_options, async_update_enabled=False
        )
    raise ConfigError(
        f"credentials_type={kind} cannot sign OpenAPI calls to a KMS instance; use ak, sts, ram_role "
        "or ecs_ram_role, or give the instance its own clientKeyFile",
        key="credentials_type",
    )

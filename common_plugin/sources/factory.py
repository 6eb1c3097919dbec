"""Build the secret source a :class:`~common_plugin.config.ProviderConfig` describes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigError
from .base import SecretSource
from .dkms import DkmsSource
from .failover import FailoverSource
from .gateway import GatewaySource
from .insecure import warn_insecure_transport
from .ram_credentials import ram_instance_sources

if TYPE_CHECKING:
    from ..config.loading import GatewayCredentialsConfig, ProviderConfig

__all__ = ["build_source"]


def build_source(config: ProviderConfig) -> SecretSource:
    """The DKMS instances first (client key, then RAM credentials), then the gateway regions, behind
    one :class:`FailoverSource`.

    Raises:
        ConfigError: nothing to fetch from, or a credential type that cannot be built here.
    """
    sources: list[SecretSource] = []
    timeout = config.request_timeout_seconds
    for instance in config.dkms_instances:
        endpoint = instance.endpoint
        protocol = "https"
        if endpoint.startswith(("http://", "https://")):
            protocol, endpoint = endpoint.split("://", 1)
        # DkmsSource logs these itself; the warnings reach an application that configured no logging.
        if instance.ignore_ssl_certs:
            warn_insecure_transport(
                f"DKMS endpoint {endpoint}: TLS certificates are not verified (ignoreSslCerts=true); "
                "use caFilePath outside local tests",
                log=False,
            )
        if protocol == "http":
            warn_insecure_transport(
                f"DKMS endpoint {endpoint} is plain http:// (allow_insecure_http=true): secrets cross "
                "the network unencrypted; use https outside local tests",
                log=False,
            )
        sources.append(
            DkmsSource(
                region_id=instance.region_id,
                endpoint=endpoint,
                client_key_content=instance.client_key_content,
                password=instance.password,
                ca_file_path=str(instance.ca_file_path) if instance.ca_file_path else None,
                ignore_ssl_certs=instance.ignore_ssl_certs,  # tls-opt-out: ignoreSslCerts
                timeout_seconds=timeout,
                protocol=protocol,
            )
        )
    sources.extend(ram_instance_sources(config))
    if config.kms_regions:
        if config.credentials is None:
            raise ConfigError(
                "cache_client_region_id needs credentials_type (and its keys) to call the KMS gateway",
                key="credentials_type",
            )
        credential = gateway_credential(config.credentials)
        for region in config.kms_regions:
            sources.append(
                GatewaySource(
                    region_id=region.region_id,
                    endpoint=region.resolved_endpoint(),
                    credential=credential,
                    ca_file_path=str(config.kms_ca_file_path) if config.kms_ca_file_path else None,
                    timeout_seconds=timeout,
                    sts_endpoint=config.sts_endpoint,
                    allow_insecure_http=config.allow_insecure_http,
                )
            )
    if not sources:
        raise ConfigError(
            "no secret source configured: set cache_client_dkms_config_info (dedicated KMS) or "
            "cache_client_region_id with credentials_type (KMS gateway)",
            key="cache_client_dkms_config_info",
        )
    return FailoverSource(
        sources,
        max_attempts=max(config.max_fetch_attempts, 1),
        total_timeout_seconds=config.fetch_deadline_seconds,
    )


def gateway_credential(credentials: GatewayCredentialsConfig) -> Any:
    """The aliyunsdkcore credential object for ``credentials_type``."""
    from aliyunsdkcore.auth import credentials as sdk_credentials

    kind = credentials.type
    if kind == "ak":
        return sdk_credentials.AccessKeyCredential(credentials.access_key_id, credentials.access_key_secret)
    if kind in ("sts", "ram_role"):
        return sdk_credentials.RamRoleArnCredential(
            credentials.access_key_id,
            credentials.access_key_secret,
            credentials.role_arn,
            credentials.role_session_name or "managed-credentials-provider",
        )
    if kind == "ecs_ram_role":
        return sdk_credentials.EcsRamRoleCredential(credentials.role_name)
    if kind == "client_key" and credentials.client_key_content and credentials.client_key_password:
        from .client_key_signer import ClientKeySigner

        return ClientKeySigner(credentials.client_key_content, credentials.client_key_password)
    raise ConfigError(
        f"credentials_type={kind} cannot be used for the KMS gateway; use ak, sts, ram_role, "
        "ecs_ram_role or client_key",
        key="credentials_type",
    )

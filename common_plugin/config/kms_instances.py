"""KMS instances reached with RAM credentials: ``cache_client_dkms_config_info`` entries without a client key.

A KMS instance (``<instance-id>.cryptoservice.kms.aliyuncs.com``) answers the KMS OpenAPI
``GetSecretValue`` signed with RAM credentials as well as its client-key API. An entry of
``cache_client_dkms_config_info`` that has none of the client-key fields (``clientKeyFile``,
``passwordFromFilePath``, ``passwordFromEnvVariable``) is such an instance::

    cache_client_dkms_config_info=[{"regionId":"cn-hangzhou",
        "endpoint":"kst-hzz6....cryptoservice.kms.aliyuncs.com","caFilePath":"PrivateKmsCA_kst-hzz6.pem"}]
    credentials_type=ecs_ram_role
    credentials_role_name=KmsReaderRole

Fields: ``regionId`` and ``endpoint`` (required), ``caFilePath`` (the instance's CA; without it,
``ALIBABA_CLOUD_CA_BUNDLE`` or the default trust store, which does not hold an instance's private CA)
and ``ignoreSslCerts`` (only ``false``: verification is never switched off on this path). The
credential is the one ``credentials_type`` describes (``ak``, ``sts``, ``ram_role``,
``ecs_ram_role``; not ``client_key``, whose key belongs in the entry's own ``clientKeyFile``), shared
with the gateway regions; ``sts_endpoint`` applies too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import validation as v
from .endpoints import DKMS_FIELDS, is_ram_instance_entry, json_objects
from .gateway_credentials import GatewayCredentialsConfig
from .validation import Entry, error

__all__ = [
    "RAM_INSTANCE_CREDENTIAL_TYPES",
    "RamInstanceConfig",
    "check_ram_credentials",
    "parse_ram_instances",
]

_FIELDS = ("regionId", "endpoint", "caFilePath", "ignoreSslCerts")
RAM_INSTANCE_CREDENTIAL_TYPES = ("ak", "sts", "ram_role", "ecs_ram_role")


@dataclass(frozen=True)
class RamInstanceConfig:
    """One KMS instance reached with RAM credentials. Immutable; holds no secret.

    Attributes:
        region_id: the instance's region.
        endpoint: ``<instance-id>.cryptoservice.kms.aliyuncs.com`` (``host[:port]``), or
            ``http://host:port`` for a plain-HTTP local emulator.
        ca_file_path: the instance's CA bundle, or ``None`` (``ALIBABA_CLOUD_CA_BUNDLE``, else the
            default trust store).
        label: how messages name the entry, e.g. ``cache_client_dkms_config_info[1]``.
    """

    region_id: str
    endpoint: str
    ca_file_path: Path | None = None
    label: str = ""


def parse_ram_instances(entry: Entry) -> tuple[RamInstanceConfig, ...]:
    """The entries of ``cache_client_dkms_config_info`` that have no client-key field, in order.

    Raises:
        ConfigError: a missing or mistyped field, a CA file that does not exist, or
            ``ignoreSslCerts`` true; the message names the entry and the field.
    """
    instances = []
    key = entry.key
    for index, item in enumerate(json_objects(entry)):
        if not is_ram_instance_entry(item):
            continue
        label = f"{entry.label}[{index}]"
        # Every field of an instance entry is named in the hint, so a mistyped clientKeyFile is found.
        v.check_fields(item, DKMS_FIELDS, label, key)
        v.check_fields(item, _FIELDS, label, key)
        if "ignoreSslCerts" in item and v.parse_bool(item["ignoreSslCerts"], f"{label}.ignoreSslCerts", key):
            raise error(
                f"{label}.ignoreSslCerts: an instance reached with RAM credentials is always verified; "
                "set caFilePath to the instance's CA (PrivateKmsCA_<instance-id>.pem from the KMS console)",
                key,
            )
        ca_raw = v.optional_string(item, "caFilePath", label, key)
        instances.append(
            RamInstanceConfig(
                region_id=v.required_string(item, "regionId", label, key),
                endpoint=v.required_string(item, "endpoint", label, key),
                ca_file_path=None
                if ca_raw is None
                else v.existing_file(ca_raw, f"{label}.caFilePath", key, entry.base_dir, "CA file"),
                label=label,
            )
        )
    return tuple(instances)


def check_ram_credentials(
    instances: tuple[RamInstanceConfig, ...], credentials: GatewayCredentialsConfig | None
) -> None:
    """Instances reached with RAM credentials need ``credentials_type``, and one that signs OpenAPI calls.

    Raises:
        ConfigError: no ``credentials_type``, or ``client_key``; the message names the first such entry.
    """
    if not instances:
        return
    first = instances[0].label
    if credentials is None:
        raise error(
            f"{first} has no clientKeyFile, so it is reached with RAM credentials, but credentials_type "
            f"is not set; set credentials_type ({', '.join(RAM_INSTANCE_CREDENTIAL_TYPES)}) and its "
            "keys, or give the entry clientKeyFile and passwordFromFilePath/passwordFromEnvVariable",
            "credentials_type",
        )
    if credentials.type not in RAM_INSTANCE_CREDENTIAL_TYPES:
        raise error(
            f"{first} has no clientKeyFile, so it is reached with the RAM credentials of "
            f"credentials_type, and {credentials.type!r} cannot sign OpenAPI calls to a KMS instance; "
            f"use {', '.join(RAM_INSTANCE_CREDENTIAL_TYPES)}, or put the client key in the entry "
            "(clientKeyFile with passwordFromFilePath or passwordFromEnvVariable)",
            "credentials_type",
        )

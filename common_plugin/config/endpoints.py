"""The KMS endpoints of the configuration: DKMS instances and shared-gateway regions.

``cache_client_dkms_config_info`` is a JSON array of objects with ``regionId``, ``endpoint``,
``clientKeyFile``, exactly one of ``passwordFromFilePath`` / ``passwordFromEnvVariable``, and the
optional ``ignoreSslCerts`` (default false) and ``caFilePath``. An entry with none of the client-key
fields names an instance reached with RAM credentials instead (:mod:`.kms_instances`); it is skipped
here. ``cache_client_region_id`` is a JSON
array of ``{"regionId": ..., "endpoint": ... (optional), "vpc": false}``. A single object instead of
an array is accepted. Unknown fields are errors with a "did you mean" hint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import validation as v
from .validation import Entry, error

__all__ = [
    "DKMS_FIELDS",
    "DkmsInstanceConfig",
    "KmsRegionConfig",
    "is_ram_instance_entry",
    "json_objects",
    "parse_dkms_instances",
    "parse_kms_regions",
]

DKMS_FIELDS = (
    "regionId",
    "endpoint",
    "clientKeyFile",
    "passwordFromFilePath",
    "passwordFromEnvVariable",
    "ignoreSslCerts",
    "caFilePath",
)
_REGION_FIELDS = ("regionId", "endpoint", "vpc")
_CLIENT_KEY_FIELDS = (
    "clientKeyFile",
    "passwordFromFilePath",
    "passwordFromEnvVariable",
    "passwordFromFilePathName",
)


def is_ram_instance_entry(item: Mapping[str, object]) -> bool:
    """An entry of ``cache_client_dkms_config_info`` with no client-key field: reached with RAM credentials.

    An entry with only some of them (say a password source but no ``clientKeyFile``) stays a
    client-key entry, so it gets the client-key errors ("field 'clientKeyFile' is required").
    """
    return not any(name in item for name in _CLIENT_KEY_FIELDS)


@dataclass(frozen=True)
class DkmsInstanceConfig:
    """One dedicated KMS (DKMS) instance from ``cache_client_dkms_config_info``.

    Attributes:
        region_id: the instance's region.
        endpoint: ``<instance-id>.cryptoservice.kms.aliyuncs.com`` (host, optionally ``:port``).
        client_key_file: absolute path of the ClientKey JSON file.
        client_key_id: its ``KeyId``.
        client_key_content: the ClientKey JSON text (holds the encrypted private key).
        password: the client key password.
        password_source: ``"file /abs/path"`` or ``"env VAR"``, for messages.
        ignore_ssl_certs: skip TLS verification (for testing only).
        ca_file_path: CA bundle for the instance's certificate, or ``None`` for the default.
    """

    region_id: str
    endpoint: str
    client_key_file: Path
    client_key_id: str
    client_key_content: str = field(repr=False)
    password: str = field(repr=False)
    password_source: str = ""
    ignore_ssl_certs: bool = False
    ca_file_path: Path | None = None


@dataclass(frozen=True)
class KmsRegionConfig:
    """One KMS shared-gateway region from ``cache_client_region_id``."""

    region_id: str
    endpoint: str | None = None
    vpc: bool = False

    def resolved_endpoint(self) -> str:
        """The configured endpoint, else ``kms-vpc.<region>.aliyuncs.com`` / ``kms.<region>.aliyuncs.com``."""
        if self.endpoint:
            return self.endpoint
        prefix = "kms-vpc" if self.vpc else "kms"
        return f"{prefix}.{self.region_id}.aliyuncs.com"


def json_objects(entry: Entry) -> list[dict[str, object]]:
    """The JSON array of objects in ``entry`` (a single object counts as an array of one)."""
    document = v.parse_json_value(entry)
    if isinstance(document, dict):
        document = [document]  # a single object is an obvious slip; accept it
    if not isinstance(document, list) or not document:
        raise error(f"{entry.label}: must be a non-empty JSON array of objects", entry.key)
    for index, item in enumerate(document):
        if not isinstance(item, dict):
            raise error(f"{entry.label}[{index}]: must be a JSON object", entry.key)
    return document


def parse_kms_regions(entry: Entry) -> tuple[KmsRegionConfig, ...]:
    regions = []
    for index, item in enumerate(json_objects(entry)):
        label = f"{entry.label}[{index}]"
        v.check_fields(item, _REGION_FIELDS, label, entry.key)
        regions.append(
            KmsRegionConfig(
                region_id=v.required_string(item, "regionId", label, entry.key),
                endpoint=v.optional_string(item, "endpoint", label, entry.key),
                vpc=v.parse_bool(item["vpc"], f"{label}.vpc", entry.key) if "vpc" in item else False,
            )
        )
    return tuple(regions)


def parse_dkms_instances(entry: Entry, environ: Mapping[str, str]) -> tuple[DkmsInstanceConfig, ...]:
    instances = []
    key = entry.key
    for index, item in enumerate(json_objects(entry)):
        if is_ram_instance_entry(item):
            continue
        label = f"{entry.label}[{index}]"
        if "passwordFromFilePathName" in item:
            raise error(
                f"{label}: passwordFromFilePathName is not supported; put the password file's path "
                "in passwordFromFilePath, or name an environment variable in passwordFromEnvVariable",
                key,
            )
        v.check_fields(item, DKMS_FIELDS, label, key)
        region_id = v.required_string(item, "regionId", label, key)
        endpoint = v.required_string(item, "endpoint", label, key)
        key_file = v.required_string(item, "clientKeyFile", label, key)
        from_file = v.optional_string(item, "passwordFromFilePath", label, key)
        from_env = v.optional_string(item, "passwordFromEnvVariable", label, key)
        if (from_file is None) == (from_env is None):
            raise error(
                f"{label}: set exactly one of passwordFromFilePath (a file holding the client key "
                "password) or passwordFromEnvVariable (the name of a variable holding it)",
                key,
            )
        if from_file is not None:
            password = v.password_from_file(from_file, f"{label}.passwordFromFilePath", key, entry.base_dir)
        else:  # exactly one is set, checked above
            password = v.password_from_env(from_env or "", f"{label}.passwordFromEnvVariable", key, environ)
        client_key = v.load_client_key(key_file, password, f"{label}.clientKeyFile", key, entry.base_dir)
        ca_raw = v.optional_string(item, "caFilePath", label, key)
        ignore = item.get("ignoreSslCerts")
        instances.append(
            DkmsInstanceConfig(
                region_id=region_id,
                endpoint=endpoint,
                client_key_file=client_key.path,
                client_key_id=client_key.key_id,
                client_key_content=client_key.content,
                password=client_key.password,
                password_source=client_key.password_source,
                ignore_ssl_certs=False
                if ignore is None
                else v.parse_bool(ignore, f"{label}.ignoreSslCerts", key),
                ca_file_path=None
                if ca_raw is None
                else v.existing_file(ca_raw, f"{label}.caFilePath", key, entry.base_dir, "CA file"),
            )
        )
    return tuple(instances)

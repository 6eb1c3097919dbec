"""Sample: fetch a managed credential through the KMS shared gateway, authenticating with an AccessKey.

``managed_credentials_providers.properties`` for the shared gateway (``credentials_type=ak``)::

    cache_client_region_id=[{"regionId":"cn-hangzhou"}]
    credentials_type=ak
    credentials_access_key_id=LTAI5t...
    credentials_access_secret=...
    secret_names=demo-app-key

The region's public endpoint is used unless the entry names one (``"endpoint":"host:port"``);
``kms_ca_file_path`` names a CA bundle to trust instead of the system's. Keep the AccessKeySecret
out of the file if you can: any key missing from the file is read from the environment, by its
name or in UPPER_CASE (``export CREDENTIALS_ACCESS_SECRET=...``).

Run against the local emulator: ``.venv/bin/python samples/gateway_ak_config.py``.
"""

from __future__ import annotations

import os

from common_plugin import ManagedCredential, load_config, provider_from_config

SECRET_NAME = "demo-app-key"


def main(
    properties: str | os.PathLike[str] | None = None, secret_name: str = SECRET_NAME
) -> ManagedCredential:
    """Load ``properties`` (default: ``./managed_credentials_providers.properties``) and fetch
    ``secret_name`` from the shared gateway; returns the credential (print only its masked id)."""
    config = load_config(properties)
    regions = ", ".join(
        f"{region.region_id} ({region.endpoint or 'public endpoint'})" for region in config.kms_regions
    )
    print(f"KMS regions: {regions}")
    print(f"gateway credentials: {config.credentials!r}")  # the repr masks ids and hides secrets
    with provider_from_config(config) as provider:
        credential = provider.get(secret_name)
        print(
            f"{secret_name}: AccessKeyId {credential.masked_access_key_id}, version {credential.version_id}"
        )
        return credential


if __name__ == "__main__":
    from common_plugin.testing import LocalAliyun

    with LocalAliyun() as cloud:
        cloud.create_ram_secret(SECRET_NAME)
        main(cloud.write_properties(mode="gateway", credentials_type="ak", secret_names=[SECRET_NAME]))

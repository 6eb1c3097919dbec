"""Sample: fetch a managed credential through the KMS shared gateway with a RAM role (``ram_role``).

The provider calls STS ``AssumeRole`` with the AccessKey below and reads the secret with the
temporary credential it gets back::

    cache_client_region_id=[{"regionId":"cn-hangzhou"}]
    credentials_type=ram_role
    credentials_access_key_id=LTAI5t...
    credentials_access_secret=...
    credentials_role_arn=acs:ram::1234567890123456:role/managed-credentials-reader
    credentials_role_session_name=my-app
    secret_names=demo-app-key

``sts_endpoint`` (``host[:port]`` or ``https://host:port``) sends AssumeRole elsewhere than
``sts.aliyuncs.com``, e.g. to a VPC endpoint, or here to the emulator's plain-HTTP STS (which needs
``allow_insecure_http=true``: a test-only opt-in).

Run against the local emulator: ``.venv/bin/python samples/gateway_ram_role_config.py``.
"""

from __future__ import annotations

import os

from common_plugin import ManagedCredential, load_config, provider_from_config

SECRET_NAME = "demo-app-key"


def main(
    properties: str | os.PathLike[str] | None = None, secret_name: str = SECRET_NAME
) -> ManagedCredential:
    """Load ``properties`` (default: ``./managed_credentials_providers.properties``), assume the role
    and fetch ``secret_name``; returns the credential (print only its masked id)."""
    config = load_config(properties)
    print(f"gateway credentials: {config.credentials!r}")  # type, masked id, role ARN; never the secret
    print(f"AssumeRole goes to {config.sts_endpoint or 'sts.aliyuncs.com'}")
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
        path = cloud.write_properties(
            mode="gateway",
            credentials_type="ram_role",
            secret_names=[SECRET_NAME],
            extra={"sts_endpoint": cloud.sts_url, "allow_insecure_http": "true"},
        )
        main(path)

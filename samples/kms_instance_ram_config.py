"""Sample: fetch a managed credential from a KMS instance reached with RAM credentials (no client key).

``managed_credentials_providers.properties``: an instance entry without ``clientKeyFile``, and the
RAM credential that signs its OpenAPI calls (here an ECS instance role)::

    cache_client_dkms_config_info=[{"regionId":"cn-hangzhou",
        "endpoint":"kst-hzz6....cryptoservice.kms.aliyuncs.com","caFilePath":"PrivateKmsCA_kst-hzz6.pem"}]
    credentials_type=ecs_ram_role
    credentials_role_name=KmsReaderRole
    secret_names=demo-app-key

``credentials_type`` may also be ``ak`` or ``ram_role``/``sts`` (with ``sts_endpoint`` where
AssumeRole goes). ``caFilePath`` is the instance's CA; TLS is always verified on this path. Needs
the ``v2`` extra (``pip install 'alibabacloud-managed-credentials-providers[v2]'``).

Run against the local emulator: ``.venv/bin/python samples/kms_instance_ram_config.py``.
"""

from __future__ import annotations

import os

from common_plugin import ManagedCredential, load_config, provider_from_config

SECRET_NAME = "demo-app-key"


def main(
    properties: str | os.PathLike[str] | None = None, secret_name: str = SECRET_NAME
) -> ManagedCredential:
    """Load ``properties`` (default: ``./managed_credentials_providers.properties``) and fetch
    ``secret_name`` from the KMS instance; returns the credential (print only its masked id)."""
    config = load_config(properties)
    for instance in config.ram_instances:
        print(f"KMS instance {instance.endpoint} ({instance.region_id}), CA {instance.ca_file_path}")
    print(f"RAM credentials: {config.credentials!r}")  # the repr masks ids and hides secrets
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
        main(cloud.write_properties(mode="instance", credentials_type="ak", secret_names=[SECRET_NAME]))

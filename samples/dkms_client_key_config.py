"""Sample: configure a dedicated KMS instance (DKMS) with a client key, then fetch a credential.

``managed_credentials_providers.properties`` for DKMS names the instance, its client key file and
where the client key's password comes from (a file or an environment variable, never the file
itself). Relative paths resolve against the properties file's folder::

    cache_client_dkms_config_info=[{"regionId":"cn-hangzhou",
        "endpoint":"kst-hzz65f1b2c3d4e5.cryptoservice.kms.aliyuncs.com",
        "clientKeyFile":"clientKey_KAAP.json",
        "passwordFromFilePath":"clientKey_KAAP_Password.txt",
        "ignoreSslCerts":false,"caFilePath":"PrivateKmsCA_kst-hzz65f1b2c3d4e5.pem"}]
    secret_names=demo-app-key

(the JSON array is one line in the file; ``secret_names`` are fetched at start-up).

Run against the local emulator: ``.venv/bin/python samples/dkms_client_key_config.py``.
"""

from __future__ import annotations

import os

from common_plugin import ManagedCredential, load_config, provider_from_config

SECRET_NAME = "demo-app-key"


def main(
    properties: str | os.PathLike[str] | None = None, secret_name: str = SECRET_NAME
) -> ManagedCredential:
    """Load ``properties`` (default: ``./managed_credentials_providers.properties``) and fetch
    ``secret_name``; returns the credential (print only its masked id)."""
    config = load_config(properties)  # validated once: a bad key, path or password raises ConfigError
    for instance in config.dkms_instances:
        print(
            f"DKMS instance {instance.endpoint} ({instance.region_id}), client key {instance.client_key_id}"
        )
    with provider_from_config(config) as provider:  # preloads secret_names
        credential = provider.get(secret_name)
        print(
            f"{secret_name}: AccessKeyId {credential.masked_access_key_id}, version {credential.version_id}"
        )
        return credential


if __name__ == "__main__":
    from common_plugin.testing import LocalAliyun

    with LocalAliyun() as cloud:
        cloud.create_ram_secret(SECRET_NAME)
        path = cloud.write_properties(mode="dkms", secret_names=[SECRET_NAME])
        # DKMS-mode properties hold paths only; the password stays in its own file.
        print(path.read_text(encoding="utf-8"))
        main(path)

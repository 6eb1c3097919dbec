"""Sample: a Tea / OpenAPI V2 client (here STS) that signs with a managed RAM credential.

The client asks ``TeaCredentialsProvider`` for the key on every request, so a rotated key is used
at once; ``RefreshingTeaClient`` adds the one refresh-and-retry after a revoked key.

Run against the local emulator: ``python samples/tea_v2_client.py``.
"""

from __future__ import annotations

from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi import utils_models as open_api_models

from common_plugin.adapters.tea import RefreshingTeaClient, TeaCredentialsProvider
from common_plugin.provider import CredentialsProvider


def make_client(
    provider: CredentialsProvider, secret_name: str, endpoint: str, protocol: str = "https"
) -> StsClient:
    """An STS V2 client whose key comes from ``secret_name``, wrapped in the retry rule."""
    credentials = TeaCredentialsProvider(provider, secret_name)
    config = open_api_models.Config(
        credential=credentials.credential_client(),
        endpoint=endpoint,  # e.g. "sts.cn-hangzhou.aliyuncs.com"
        protocol=protocol,
        region_id="cn-hangzhou",
    )
    return RefreshingTeaClient(StsClient(config), credentials)  # type: ignore[return-value]


def main(provider: CredentialsProvider, secret_name: str, endpoint: str, protocol: str = "https") -> str:
    """Call GetCallerIdentity, print the caller and the key that signed; return the caller's ARN."""
    sts = make_client(provider, secret_name, endpoint, protocol)
    arn = str(sts.get_caller_identity().body.arn)
    print(f"{arn} signed with {provider.get(secret_name).masked_access_key_id}")
    return arn


if __name__ == "__main__":
    from common_plugin import load_config, provider_from_config
    from common_plugin.testing import LocalAliyun

    with LocalAliyun() as cloud:
        cloud.create_ram_secret("demo-app-key")
        with provider_from_config(load_config(cloud.write_properties())) as demo_provider:
            main(demo_provider, "demo-app-key", cloud.sts_endpoint, protocol="http")
            cloud.rotate("demo-app-key")  # revoke the key behind the client's back
            print("-- the key was rotated and the old one revoked")
            main(demo_provider, "demo-app-key", cloud.sts_endpoint, protocol="http")  # one retry

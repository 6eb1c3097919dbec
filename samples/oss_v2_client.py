"""Sample: an ``alibabacloud-oss-v2`` client that signs with a managed RAM credential.

``configure`` sets the client's credentials provider (read on every attempt) and wraps its retryer
so a revoked key is replaced once and the request retried once.

Run against the local emulator: ``python samples/oss_v2_client.py``.
"""

from __future__ import annotations

import alibabacloud_oss_v2 as oss

from common_plugin.provider import CredentialsProvider
from oss_plugin.v2 import configure


def make_client(provider: CredentialsProvider, secret_name: str, endpoint: str) -> oss.Client:
    """An OSS V2 client whose key comes from ``secret_name``."""
    config = oss.config.load_default()
    config.region = "cn-hangzhou"
    config.endpoint = endpoint  # e.g. "https://oss-cn-hangzhou.aliyuncs.com"
    return oss.Client(configure(config, provider, secret_name))


def main(provider: CredentialsProvider, secret_name: str, endpoint: str, bucket: str) -> bytes:
    """Write an object and read it back; print what was read and the key that signed."""
    client = make_client(provider, secret_name, endpoint)
    client.put_object(oss.PutObjectRequest(bucket=bucket, key="hello.txt", body=b"hello, managed key"))
    result = client.get_object(oss.GetObjectRequest(bucket=bucket, key="hello.txt"))
    data: bytes = result.body.read()
    print(f"read {data!r} signed with {provider.get(secret_name).masked_access_key_id}")
    return data


if __name__ == "__main__":
    from common_plugin import load_config, provider_from_config
    from common_plugin.testing import LocalAliyun

    with LocalAliyun() as cloud:
        cloud.create_ram_secret("demo-oss-key")
        cloud.create_bucket("demo-bucket")
        endpoint = str(cloud.oss_endpoint)
        with provider_from_config(load_config(cloud.write_properties())) as demo_provider:
            main(demo_provider, "demo-oss-key", endpoint, "demo-bucket")
            cloud.rotate("demo-oss-key")  # revoke the key behind the client's back
            print("-- the key was rotated and the old one revoked")
            main(demo_provider, "demo-oss-key", endpoint, "demo-bucket")  # one retry

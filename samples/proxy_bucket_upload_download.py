"""Sample: put, get and upload a file to OSS with ``ProxyBucket``, which signs with a managed RAM credential.

Migrating from ``oss2.Bucket`` replaces the ``auth`` argument with the secret's name::

    # before
    bucket = oss2.Bucket(oss2.Auth(access_key_id, access_key_secret), endpoint, "my-bucket")
    # after
    from oss_plugin import ProxyBucket
    bucket = ProxyBucket("demo-app-key", endpoint, "my-bucket")

``oss2`` helpers that take a bucket, such as ``oss2.resumable_upload``, work unchanged. The key is
read from ``managed_credentials_providers.properties`` (see ``proxy_acs_client_call.py``).

Run against the local emulator: ``.venv/bin/python samples/proxy_bucket_upload_download.py``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import oss2

from common_plugin import ConfigLoader
from oss_plugin import ProxyBucket

SECRET_NAME = "demo-app-key"
BUCKET_NAME = "demo-bucket"


def main(
    properties: str | os.PathLike[str] | None = None,
    secret_name: str = SECRET_NAME,
    endpoint: str = "https://oss-cn-hangzhou.aliyuncs.com",
    bucket_name: str = BUCKET_NAME,
) -> bytes:
    """Put and get a small object, then upload a 300 KB file in parts; returns the small object read back."""
    if properties is not None:
        ConfigLoader.set_config_name(properties)  # once, before the first client
    with ProxyBucket(secret_name, endpoint, bucket_name) as bucket, tempfile.TemporaryDirectory() as tmp:
        bucket.put_object("hello.txt", b"hello from a managed key")
        data: bytes = bucket.get_object("hello.txt").read()
        print(f"hello.txt: {data!r}")

        local = Path(tmp) / "report.bin"
        local.write_bytes(os.urandom(300 * 1024))
        oss2.resumable_upload(
            bucket,
            "reports/report.bin",
            str(local),
            store=oss2.ResumableStore(root=tmp),  # checkpoint files, for resuming after a crash
            multipart_threshold=200 * 1024,
            part_size=100 * 1024,
        )
        size = bucket.head_object("reports/report.bin").content_length
        print(f"reports/report.bin: {size} bytes")
        print(f"signed with {bucket.provider.get(secret_name).masked_access_key_id}")
        return data


if __name__ == "__main__":
    from common_plugin.testing import LocalAliyun

    with LocalAliyun() as cloud:
        cloud.create_ram_secret(SECRET_NAME)
        cloud.create_bucket(BUCKET_NAME)
        main(cloud.write_properties(secret_names=[SECRET_NAME]), endpoint=str(cloud.oss_endpoint))

"""Sample: managed credentials in asyncio code, with an async Tea client.

``get_async`` returns a cached key without leaving the event loop; a miss, or the refresh after a
revoked key, runs in a worker thread shared by every task that needs it.

Run against the local emulator: ``python samples/asyncio_provider.py``.
"""

from __future__ import annotations

import asyncio

from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi import utils_models as open_api_models

from common_plugin.adapters.aio import get_async
from common_plugin.adapters.tea import RefreshingTeaClient, TeaCredentialsProvider
from common_plugin.provider import CredentialsProvider


async def main(
    provider: CredentialsProvider, secret_name: str, endpoint: str, protocol: str = "https", tasks: int = 20
) -> list[str]:
    """Warm the cache, then make ``tasks`` concurrent GetCallerIdentity calls; return their ARNs."""
    credential = await get_async(provider, secret_name)  # never blocks the loop
    print(f"cached key {credential.masked_access_key_id}")
    credentials = TeaCredentialsProvider(provider, secret_name)
    config = open_api_models.Config(
        credential=credentials.credential_client(),
        endpoint=endpoint,
        protocol=protocol,
        region_id="cn-hangzhou",
    )
    sts = RefreshingTeaClient(StsClient(config), credentials)
    responses = await asyncio.gather(*(sts.get_caller_identity_async() for _ in range(tasks)))
    # After a revoke the cached key above was refused; the calls were retried with the new one.
    now = await get_async(provider, secret_name)
    print(f"{len(responses)} calls signed; key now {now.masked_access_key_id}")
    return [str(r.body.arn) for r in responses]


if __name__ == "__main__":
    from common_plugin import load_config, provider_from_config
    from common_plugin.testing import LocalAliyun

    with LocalAliyun() as cloud:
        cloud.create_ram_secret("demo-app-key")
        with provider_from_config(load_config(cloud.write_properties())) as demo_provider:
            asyncio.run(main(demo_provider, "demo-app-key", cloud.sts_endpoint, "http"))
            cloud.rotate("demo-app-key")  # revoke: the tasks share one refresh
            print("-- the key was rotated and the old one revoked")
            asyncio.run(main(demo_provider, "demo-app-key", cloud.sts_endpoint, "http"))

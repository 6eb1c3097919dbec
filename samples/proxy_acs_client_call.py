"""Sample: call an OpenAPI with ``ProxyAcsClient``, which signs with a managed RAM credential.

Migrating from ``AcsClient`` takes two lines; every request is then signed with the current key,
and a call the server rejects because the key was rotated or revoked is refreshed and retried once::

    # before
    from aliyunsdkcore.client import AcsClient
    client = AcsClient(access_key_id, access_key_secret, "cn-hangzhou")
    # after: the key comes from the secret named in the first argument
    from sdk_core_plugin import ProxyAcsClient
    client = ProxyAcsClient("demo-app-key", region_id="cn-hangzhou")

The client reads ``managed_credentials_providers.properties`` from the working directory, or the
file named with ``ConfigLoader.set_config_name`` before the first client is built.

Run against the local emulator: ``.venv/bin/python samples/proxy_acs_client_call.py``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from aliyunsdkcore.request import CommonRequest

from common_plugin import ConfigLoader
from sdk_core_plugin import ProxyAcsClient

SECRET_NAME = "demo-app-key"


def main(
    properties: str | os.PathLike[str] | None = None,
    secret_name: str = SECRET_NAME,
    domain: str = "sts.cn-hangzhou.aliyuncs.com",
    protocol: str = "https",
) -> dict[str, Any]:
    """Call STS GetCallerIdentity at ``domain`` as the managed key; returns the decoded response."""
    if properties is not None:
        ConfigLoader.set_config_name(properties)  # once, before the first client
    with ProxyAcsClient(secret_name, region_id="cn-hangzhou") as client:  # shutdown() on exit
        request = CommonRequest(domain=domain, version="2015-04-01", action_name="GetCallerIdentity")
        request.set_protocol_type(protocol)
        request.set_method("POST")
        response: dict[str, Any] = json.loads(client.do_action_with_exception(request))
        print(f"signed with {client.provider.get(secret_name).masked_access_key_id}")
        print(f"caller: {response['Arn']}")
        return response


if __name__ == "__main__":
    from common_plugin.testing import LocalAliyun

    with LocalAliyun() as cloud:
        cloud.create_ram_secret(SECRET_NAME)
        main(cloud.write_properties(secret_names=[SECRET_NAME]), domain=cloud.rpc_endpoint, protocol="http")

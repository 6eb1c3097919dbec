"""Sample: serve managed credentials to processes in any language via ALIBABA_CLOUD_CREDENTIALS_URI.

From a shell (the command line does the same as ``main`` below)::

    managed-credentials serve --secret app-ak --uri-file /run/app/credentials-uri &
    export ALIBABA_CLOUD_CREDENTIALS_URI="$(cat /run/app/credentials-uri)"
    # any Alibaba Cloud SDK with the default credentials chain now signs with the managed key;
    # by hand: curl "$ALIBABA_CLOUD_CREDENTIALS_URI"
    # or with a header: curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:PORT/credentials

Run against the local emulator: ``python samples/serve_endpoint.py``.
"""

from __future__ import annotations

import json
import urllib.request

from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_credentials.models import Config as CredentialConfig

from common_plugin.adapters.endpoint import CredentialsServer
from common_plugin.provider import CredentialsProvider


def main(provider: CredentialsProvider, secret_name: str) -> tuple[str, str]:
    """Serve ``secret_name``; read it back as an SDK would and as a plain HTTP client would.

    Returns the AccessKeyIds the two readers saw.
    """
    with CredentialsServer(provider, [secret_name]) as server:
        uri = server.credentials_uri()  # http://127.0.0.1:PORT/<token>/credentials: keep it secret
        sdk = CredentialClient(CredentialConfig(type="credentials_uri", credentials_uri=uri))
        sdk_key_id = sdk.get_credential().access_key_id
        request = urllib.request.Request(  # noqa: S310 - a fixed http://127.0.0.1 URL
            server.base_url + "/credentials", headers={"Authorization": f"Bearer {server.token}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            plain_key_id = json.load(response)["AccessKeyId"]
    return str(sdk_key_id), str(plain_key_id)


if __name__ == "__main__":
    from common_plugin import load_config, provider_from_config
    from common_plugin.masking import mask_access_key_id
    from common_plugin.testing import LocalAliyun

    with LocalAliyun() as cloud:
        cloud.create_ram_secret("demo-app-key")
        with provider_from_config(load_config(cloud.write_properties())) as demo_provider:
            for seen in main(demo_provider, "demo-app-key"):
                print(mask_access_key_id(seen))

"""Sample: write to and read from Log Service with ``ProxyLogClient``, which signs with a managed key.

Migrating from ``LogClient`` takes one line; a request the service rejects because the key was
rotated or revoked is refreshed and retried once::

    client = LogClient("cn-hangzhou.log.aliyuncs.com", access_key_id, access_key)   # before
    client = ProxyLogClient("demo-sls-key", "cn-hangzhou.log.aliyuncs.com")          # after

For logging, ``log_plugin.ManagedQueuedLogHandler`` takes ``secret_name`` where the SDK's
``QueuedLogHandler`` takes a key. The key comes from ``managed_credentials_providers.properties``.

Run against the local emulator: ``.venv/bin/python samples/log_service_client.py``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from aliyun.log import GetLogsRequest, LogItem, PutLogsRequest

from common_plugin import ConfigLoader
from log_plugin import ProxyLogClient

SECRET_NAME = "demo-sls-key"


def main(
    properties: str | os.PathLike[str] | None,
    endpoint: str,
    project: str,
    logstore: str,
    rotate: Callable[[], object] = lambda: None,
    prepare: Callable[[ProxyLogClient], object] = lambda client: None,
) -> list[str]:
    """Put a log, let ``rotate`` revoke the key, put another, read both back; returns the messages."""
    if properties is not None:
        ConfigLoader.set_config_name(properties)  # once, before the first client
    with ProxyLogClient(SECRET_NAME, endpoint) as client:  # shutdown() on exit
        prepare(client)

        def put(message: str) -> None:
            item = LogItem(timestamp=int(time.time()), contents=[("message", message)])
            client.put_logs(PutLogsRequest(project, logstore, "demo", "sample", [item]))
            print(f"{message}: signed with {client.provider.get(SECRET_NAME).masked_access_key_id}")

        put("before the rotation")
        rotate()
        put("after the rotation")
        now = int(time.time())
        response = client.get_logs(GetLogsRequest(project, logstore, now - 300, now + 300, query="*"))
        found = [log.get_contents()["message"] for log in response.get_logs()]
        print(f"read back: {found}")
        return found


if __name__ == "__main__":
    from common_plugin.testing import LocalAliyun

    with LocalAliyun() as cloud:
        cloud.create_ram_secret(SECRET_NAME)
        cloud.create_logstore("demo-project", "demo-logs")
        main(
            cloud.write_properties(secret_names=[SECRET_NAME]),
            cloud.log_endpoint,
            "demo-project",
            "demo-logs",
            rotate=lambda: cloud.rotate(SECRET_NAME),  # revoke the key behind the client's back
            prepare=cloud.configure_log_client,  # only the emulator needs this
        )

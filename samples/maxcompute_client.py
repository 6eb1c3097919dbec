"""Sample: MaxCompute with ``ProxyOdps``, a PyODPS ``ODPS`` object that signs with a managed key.

Migrating from ``ODPS`` takes one line; a call the service rejects because the key was rotated or
revoked is refreshed and retried once::

    odps = ODPS(access_id, secret_access_key, "my_project", endpoint)   # before
    odps = ProxyOdps("demo-odps-key", "my_project", endpoint)          # after

The key comes from ``managed_credentials_providers.properties``.

Run against the local emulator: ``.venv/bin/python samples/maxcompute_client.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from common_plugin import ConfigLoader
from maxcompute_plugin import ProxyOdps

SECRET_NAME = "demo-odps-key"


def main(
    properties: str | os.PathLike[str] | None,
    endpoint: str,
    project: str,
    table: str,
    rotate: Callable[[], object] = lambda: None,
) -> list[str]:
    """Check ``table`` exists, let ``rotate`` revoke the key, list the tables; returns their names."""
    if properties is not None:
        ConfigLoader.set_config_name(properties)  # once, before the first client
    with ProxyOdps(SECRET_NAME, project, endpoint, overwrite_global=False) as odps:  # shutdown() on exit

        def signer() -> str:
            return odps.provider.get(SECRET_NAME).masked_access_key_id

        print(f"{table} exists: {odps.exist_table(table)}, signed with {signer()}")
        rotate()
        names = [t.name for t in odps.list_tables()]
        print(f"tables: {names}, signed with {signer()}")
        return names


if __name__ == "__main__":
    from common_plugin.testing import LocalAliyun

    with LocalAliyun() as cloud:
        cloud.create_ram_secret(SECRET_NAME)
        cloud.create_maxcompute_table("demo_project", "events")
        main(
            cloud.write_properties(secret_names=[SECRET_NAME]),
            cloud.maxcompute_url,
            "demo_project",
            "events",
            rotate=lambda: cloud.rotate(SECRET_NAME),  # revoke the key behind the client's back
        )

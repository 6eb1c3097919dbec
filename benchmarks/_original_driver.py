"""Drives the original suite (PyPI 0.1.4) under Python 3.10; run by the benchmarks, never directly.

    python _original_driver.py read SECRET
    python _original_driver.py rotation '{"secret": ..., "rpc_endpoint": ..., "admin_url": ..., ...}'

It runs in a working directory that holds the original's ``managed_credentials_providers.properties``
(the KMS shared-gateway mode against the emulator, which the original reaches with TLS verification
off, as it always does) and prints one JSON line. It never prints a key or a secret.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load import run_load  # noqa: E402
from _stats import median, time_statement  # noqa: E402


def _client(secret: str, handler: Any = None) -> Any:
    from aliyun_sdk_secretsmanager_sdk_core_plugin.proxy_acs_client import ProxyAcsClient

    return ProxyAcsClient(secret_name=secret, ak_expire_handler=handler)


def read_mode(secret: str) -> dict[str, Any]:
    from aliyun_sdk_secretsmanager_common_plugin.aliyun_sdk_secretsmanager_plugins_manager import (
        AliyunSdkSecretsManagerPluginsManager as Manager,
    )

    threads_before = threading.active_count()
    began = time.perf_counter()
    client = _client(secret)
    first_client = time.perf_counter() - began
    time.sleep(0.5)  # the original's preload thread and schedulers settle
    threads_one = threading.active_count() - threads_before
    extra = [_client(secret) for _ in range(9)]
    threads_ten = threading.active_count() - threads_before

    class Holder:
        __slots__ = ("credential",)

    holder = Holder()
    holder.credential = Manager.get_access_key(secret)
    namespace = {"Manager": Manager, "name": secret, "holder": holder, "client": client}
    get_ns = time_statement("Manager.get_access_key(name)", namespace, number=20_000)
    signer_ns = time_statement("client._signer", namespace)
    floor_ns = time_statement("holder.credential", namespace)
    for c in [client, *extra]:
        c.shutdown()
    return {
        "get_access_key_ns": median(get_ns),
        "pushed_signer_read_ns": median(signer_ns),
        "floor_ns": median(floor_ns),
        "first_client_seconds": first_client,
        "threads_one_client": threads_one,
        "threads_ten_clients": threads_ten,
        "python": sys.version.split()[0],
    }


def _admin(url: str, token: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method=method)  # noqa: S310 - an http:// admin URL we built
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


def rotation_mode(spec: dict[str, Any]) -> dict[str, Any]:
    from aliyun_sdk_secretsmanager_sdk_core_plugin.sdk_core_ak_expire_handler import SdkCoreAKExpireHandler
    from aliyunsdkcore.request import CommonRequest
    from aliyunsdkcore.vendored.requests.adapters import HTTPAdapter

    secret, admin_url, token = spec["secret"], spec["admin_url"], spec["admin_token"]
    rejected = threading.local()

    class FlaggingHandler(SdkCoreAKExpireHandler):  # the original's default, plus a per-call flag
        def judge_ak_expire(self, exception: Any) -> bool:
            judged = bool(super().judge_ak_expire(exception))
            if judged:
                rejected.hit = True
            return judged

    client = _client(secret, FlaggingHandler())
    # The original does not expose pool_size; give it the same 64-connection pool as ours.
    for scheme in ("http://", "https://"):
        client.session.mount(scheme, HTTPAdapter(10, spec["threads"]))

    def call() -> None:
        request = CommonRequest(
            domain=spec["rpc_endpoint"], version="2014-05-26", action_name="DescribeRegions", product="Ecs"
        )
        request.set_protocol_type("http")
        client.do_action_with_exception(request)

    def fetches() -> int:
        counters = _admin(admin_url, token, "GET", "/counters")["counters"]
        return sum(c["count"] for c in counters if c["service"] == "kms" and c["action"] == "GetSecretValue")

    def revoke() -> None:
        _admin(admin_url, token, "POST", f"/secrets/{secret}/rotate", {"grace_seconds": 0})

    call()
    result = run_load(
        call,
        rejected,
        revoke,
        fetches,
        threads=spec["threads"],
        revoke_times=spec["revoke_times"],
        duration=spec["duration"],
    )
    client.shutdown()
    return {
        "starts": result.starts,
        "latencies": result.latencies,
        "ok": result.ok,
        "rejected": result.rejected,
        "revoked_at": result.revoked_at,
        "fetches_per_revoke": result.fetches_per_revoke,
        "errors": result.errors,
        "python": sys.version.split()[0],
    }


def main() -> None:
    import logging

    logging.disable(logging.CRITICAL)  # the original logs ERROR lines per failed lock; keep stdout clean
    mode = sys.argv[1]
    if mode == "read":
        out = read_mode(sys.argv[2])
    elif mode == "rotation":
        out = rotation_mode(json.loads(sys.argv[2]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(out), flush=True)
    # The original's schedulers and __del__ hooks can stall interpreter exit; we are done.
    os._exit(0)


if __name__ == "__main__":
    main()

"""The end-to-end demo behind ``make demo``: rotation and revocation under load, on the local emulator.

Several threads call an OpenAPI (through ``ProxyAcsClient``) and OSS (through ``ProxyBucket``) with a
managed key while the demo rotates the secret and revokes the old key twice. A live line shows
progress; the summary reports calls, failures, retries, secret fetches and time to recover.
Only masked AccessKeyIds are printed.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO

from ..bootstrap import provider_from_config
from ..config.loading import load_config
from ..observability import CredentialEvent, EventKind
from ..testing import LocalAliyun
from ..testing.environment import clear_ambient_environment

__all__ = ["run_demo"]

SECRET_NAME = "demo-app-key"  # noqa: S105 - a secret name, not a secret
BUCKET = "demo-bucket"


@dataclass
class _Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    printed_at: float = -1.0

    def record(self, kind: str, ok: bool, error: BaseException | None = None) -> None:
        with self.lock:
            self.calls[kind] += 1
            if not ok:
                self.failures[kind] += 1
                self.errors[type(error).__name__] += 1


def run_demo(*, threads: int = 8, seconds: float = 6.0, out: TextIO | None = None) -> int:
    """Run the demo; returns 0 when no business call failed, 1 otherwise."""
    out = out or sys.stdout
    # The demo talks to 127.0.0.1 only: a shell's proxy or ambient keys would hijack its SDK clients.
    clear_ambient_environment()
    from aliyunsdkcore.request import CommonRequest

    from oss_plugin import ProxyBucket
    from sdk_core_plugin import ProxyAcsClient

    tally = _Tally()
    stop = threading.Event()
    with LocalAliyun() as cloud:
        cloud.create_ram_secret(SECRET_NAME, rotation_interval_seconds=6 * 3600)
        cloud.create_bucket(BUCKET)
        config = load_config(cloud.write_properties(secret_names=[SECRET_NAME]))
        print(
            f"emulator up on 127.0.0.1 in {cloud.start_seconds * 1000:.0f} ms; secret {SECRET_NAME!r}",
            file=out,
        )
        with provider_from_config(config) as provider:
            rotations: list[CredentialEvent] = []
            provider.add_event_listener(
                lambda e: rotations.append(e) if e.kind is EventKind.ROTATION_PICKED_UP else None
            )
            acs = ProxyAcsClient(SECRET_NAME, provider=provider, pool_size=threads)
            bucket = ProxyBucket(SECRET_NAME, str(cloud.oss_endpoint), BUCKET, provider=provider)
            print(
                f"managed key {provider.get(SECRET_NAME).masked_access_key_id}; "
                f"{threads} threads for {seconds:.0f} s",
                file=out,
            )

            def worker(index: int) -> None:
                n = 0
                while not stop.is_set():
                    n += 1
                    try:
                        if n % 2:
                            request = CommonRequest(
                                domain=cloud.rpc_endpoint,
                                version="2014-05-26",
                                action_name="DescribeRegions",
                                product="Ecs",
                            )
                            request.set_protocol_type("http")
                            acs.do_action_with_exception(request)
                            tally.record("openapi", True)
                        else:
                            key = f"worker-{index}/object-{n % 10}.txt"
                            bucket.put_object(key, b"managed credentials demo")
                            bucket.get_object(key).read()
                            tally.record("oss", True)
                    except Exception as exc:  # noqa: BLE001 - the demo counts every failure
                        tally.record("oss" if n % 2 == 0 else "openapi", False, exc)

            pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
            started = time.monotonic()
            for thread in pool:
                thread.start()
            plan = [
                (
                    seconds * 0.25,
                    "scheduled rotation: new version is ACSCurrent, old key kept for a grace period",
                ),
                (seconds * 0.45, "old key revoked after the grace period"),
                (seconds * 0.70, "emergency rotation: key revoked at once"),
            ]
            revoked_at: list[float] = []
            old_key = ""
            picked_up = threading.Semaphore(0)
            provider.add_event_listener(
                lambda e: picked_up.release() if e.kind is EventKind.ROTATION_PICKED_UP else None
            )
            while plan or (time.monotonic() - started) < seconds:
                elapsed = time.monotonic() - started
                while plan and elapsed >= plan[0][0]:
                    _, what = plan.pop(0)
                    print(("\n" if out.isatty() else "") + f"[{elapsed:4.1f}s] {what}", file=out)
                    if what.startswith("scheduled"):
                        old_key = cloud.current_key(SECRET_NAME).access_key_id
                        cloud.rotate(SECRET_NAME, grace_seconds=3600)
                        continue
                    if what.startswith("old key"):
                        cloud.revoke_key(old_key)
                    else:
                        cloud.rotate(SECRET_NAME)
                    revoked_at.append(time.time())
                    # Every phase happens, even on a slow machine: wait (bounded) until the workers
                    # have met the revoked key and the provider picked the new one up.
                    picked_up.acquire(timeout=10)
                _progress(
                    out,
                    elapsed,
                    tally,
                    provider.status().counters,
                    provider.get(SECRET_NAME).masked_access_key_id,
                )
                time.sleep(0.2)  # the demo's display loop; no library path sleeps
            stop.set()
            for thread in pool:
                thread.join(timeout=10)
            status = provider.status()
            acs.shutdown()
            bucket.shutdown()
    recover = [
        max(0.0, (min((e.at for e in rotations if e.at >= t), default=t) - t)) * 1000 for t in revoked_at
    ]
    total = sum(tally.calls.values())
    failed = sum(tally.failures.values())
    print("\n\nsummary", file=out)
    print(
        f"  business calls   {total} ({tally.calls['openapi']} OpenAPI, {tally.calls['oss']} OSS put+get)",
        file=out,
    )
    print(f"  failed calls     {failed}" + (f"  {dict(tally.errors)}" if failed else ""), file=out)
    print(
        f"  retries          {status.counters['retries']} (one per call that met the revoked key)", file=out
    )
    print(f"  secret fetches   {status.counters['fetches']} (1 at start + 1 per revoke)", file=out)
    print(f"  KMS requests     {cloud.count('dkms', 'GetSecretValue')} seen by the emulator", file=out)
    print(
        "  time to recover  " + ", ".join(f"{ms:.1f} ms" for ms in recover) + " (revoke -> new key in use)",
        file=out,
    )
    return 0 if failed == 0 else 1


def _progress(out: TextIO, elapsed: float, tally: _Tally, counters: dict[str, int], masked: str) -> None:
    live = out.isatty()
    if not live and elapsed - tally.printed_at < 1.0:  # a log, not a terminal: one line a second
        return
    tally.printed_at = elapsed
    with tally.lock:
        calls, failures = sum(tally.calls.values()), sum(tally.failures.values())
    out.write(
        ("\r" if live else "")
        + f"[{elapsed:4.1f}s] calls {calls:6d}  failures {failures}  retries {counters['retries']:3d}  "
        f"fetches {counters['fetches']}  key {masked}" + ("" if live else "\n")
    )
    out.flush()

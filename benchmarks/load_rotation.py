"""Load across rotations (issue 7, part 2): N threads x M ProxyAcsClient calls while the key rotates.

Every call is a real ``DescribeRegions`` through ``ProxyAcsClient`` (aliyunsdkcore) to the local
emulator, which checks each HMAC signature against the key it names: a request signed with an
AccessKeyId of one version and the secret of another is refused with ``SignatureDoesNotMatch``, so
"zero failures and zero SignatureDoesNotMatch" proves every request used a pair of one version.

Rotations happen while the threads run, at even fractions of the calls (a call more than
``threads`` calls past a mark waits for that rotation, so no thread schedule can finish the run
before a rotation), in turn:

* ``revoke``: the old key is deleted at once, so in-flight users are rejected and recover through
  one reactive refresh (single-flight) and one retry;
* ``grace``: the old key lives 10 more minutes; the proactive refresh (a ``ManualScheduler`` job on
  a ``ManualClock``) picks up the new key while the threads run, then the grace period ends.

Usage: ``python benchmarks/load_rotation.py [--threads 64] [--calls 10000] [--rotations 3]``.
``tests/test_load_rotation.py`` runs a scaled-down size through :func:`run`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from aliyunsdkcore.request import CommonRequest

from common_plugin.bootstrap import provider_from_config
from common_plugin.clock import ManualClock
from common_plugin.config import load_config
from common_plugin.scheduler import ManualScheduler
from common_plugin.testing import LocalAliyun
from sdk_core_plugin.proxy_acs_client import ProxyAcsClient

SECRET_NAME = "load-key"  # noqa: S105 - the name of a secret, not one
GRACE_SECONDS = 600.0


@dataclass
class LoadReport:
    threads: int
    calls_per_thread: int
    rotations: list[str] = field(default_factory=list)
    calls: int = 0
    failures: int = 0
    errors: list[str] = field(default_factory=list)  # the first few, as "Type: code"
    fetches: int = 0
    signature_mismatches: int = 0  # SignatureDoesNotMatch answered by the emulator
    rejected_keys: int = 0  # InvalidAccessKeyId.NotFound (a revoked key, then retried)
    requests_by_version: dict[str, int] = field(default_factory=dict)  # masked key id -> requests
    foreign_requests: int = 0  # requests signed with a key id of no version of the secret
    seconds: float = 0.0

    @property
    def mixed_pairs(self) -> bool:
        return self.signature_mismatches > 0 or self.foreign_requests > 0

    def lines(self) -> list[str]:
        return [
            f"threads x calls: {self.threads} x {self.calls_per_thread}; "
            f"rotations: {', '.join(self.rotations)}",
            f"calls made: {self.calls}   failures: {self.failures}   seconds: {self.seconds:.1f}"
            f"   ({self.calls / max(self.seconds, 1e-9):.0f} calls/s)",
            f"GetSecretValue fetches: {self.fetches} (1 first load + 1 per rotation expected)",
            f"rejected-key responses (then retried once): {self.rejected_keys}",
            f"mixed id/secret pairs: {'FOUND' if self.mixed_pairs else 'none'} "
            f"(SignatureDoesNotMatch: {self.signature_mismatches}, unknown key ids: {self.foreign_requests})",
            "requests per key version: "
            + ", ".join(f"{key}={n}" for key, n in self.requests_by_version.items()),
            *(f"error: {error}" for error in self.errors),
        ]


def run(threads: int, calls_per_thread: int, rotations: int = 3, workdir: Path | None = None) -> LoadReport:
    """Run the load against a fresh emulator and report. Never raises for a failed call."""
    report = LoadReport(threads, calls_per_thread)
    clock = ManualClock()
    scheduler = ManualScheduler()
    with tempfile.TemporaryDirectory() as tmp, LocalAliyun(clock=clock, workdir=workdir) as cloud:
        cloud.create_ram_secret(SECRET_NAME, rotation_interval_seconds=24 * 3600)
        config = load_config(cloud.write_properties(Path(tmp) / "load.properties"))
        provider = provider_from_config(config, scheduler=scheduler, clock=clock, preload=False)
        client = ProxyAcsClient(SECRET_NAME, provider=provider, pool_size=threads)
        key_ids = [cloud.current_key(SECRET_NAME).access_key_id]
        total = threads * calls_per_thread
        marks = [total * (i + 1) // (rotations + 1) for i in range(rotations)]
        reached = [threading.Event() for _ in marks]
        rotated = [threading.Event() for _ in marks]
        lock = threading.Lock()
        done = started = 0
        failures: list[str] = []
        start = threading.Barrier(threads + 1)

        def request() -> CommonRequest:
            req = CommonRequest(
                domain=cloud.rpc_endpoint, version="2014-05-26", action_name="DescribeRegions", product="Ecs"
            )
            req.set_protocol_type("http")
            return req

        def worker() -> None:
            nonlocal done, started
            start.wait()
            for _ in range(calls_per_thread):
                with lock:
                    index = started
                    started += 1
                # A call well past a mark waits for that mark's rotation, so every rotation happens
                # while calls remain, however the threads are scheduled (the ``threads`` calls after
                # the mark run on, in flight while the key rotates).
                for mark, event in zip(marks, rotated, strict=True):
                    if index >= mark + threads:
                        event.wait()
                try:
                    client.do_action_with_exception(request())
                except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                    with lock:
                        failures.append(f"{type(exc).__name__}: {getattr(exc, 'error_code', exc)}")
                with lock:
                    done += 1
                    for mark, event in zip(marks, reached, strict=True):
                        if done >= mark:
                            event.set()

        workers = [threading.Thread(target=worker, name=f"load-{i}") for i in range(threads)]
        for thread in workers:
            thread.start()
        began = time.perf_counter()
        start.wait()
        for index, event in enumerate(reached):
            event.wait()
            if index % 2 == 0:
                report.rotations.append("revoke")
                cloud.rotate(SECRET_NAME)  # the old key is gone now: in-flight users are rejected
            else:
                report.rotations.append("grace")
                cloud.rotate(SECRET_NAME, grace_seconds=GRACE_SECONDS)
                due = min(scheduler.jobs().values())
                clock.set(max(due, clock.time()))
                scheduler.run_due(clock.time())  # the proactive refresh, while the threads run
                clock.advance(GRACE_SECONDS + 1)  # then the old key expires
            key_ids.append(cloud.current_key(SECRET_NAME).access_key_id)
            rotated[index].set()
        for thread in workers:
            thread.join()
        report.seconds = time.perf_counter() - began
        client.shutdown()
        provider.close()

        report.calls = done
        report.failures = len(failures)
        report.errors = failures[:5]
        report.fetches = cloud.count("dkms", "GetSecretValue")
        report.signature_mismatches = cloud.state.error_count("rpc", "SignatureDoesNotMatch")
        report.rejected_keys = cloud.state.error_count("rpc", "InvalidAccessKeyId.NotFound")
        from common_plugin.masking import mask_access_key_id

        for key_id in key_ids:
            report.requests_by_version[mask_access_key_id(key_id)] = cloud.count(
                "rpc", "DescribeRegions", key_id
            )
        report.foreign_requests = cloud.count("rpc") - sum(report.requests_by_version.values())
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--calls", type=int, default=10_000, help="calls per thread")
    parser.add_argument("--rotations", type=int, default=3)
    args = parser.parse_args(argv)
    report = run(args.threads, args.calls, args.rotations)
    for line in report.lines():
        print(line)
    return 0 if report.failures == 0 and not report.mixed_pairs else 1


if __name__ == "__main__":
    sys.exit(main())

"""Faults through the emulator (issue 7, part 1): KMS and DKMS misbehave while the app keeps working.

Every test drives the provider's proactive refresh on a ``ManualClock`` with a ``ManualScheduler``,
so simulated hours cost nothing. Business calls go through the real ``ProxyAcsClient`` to the
emulator's ``rpc`` service, which keeps accepting the old key (rotations here use a grace period),
so they must never fail while a valid key is cached. Counters prove every retry is bounded.

``max_fetch_attempts`` is set to the number of configured instances, so ``FailoverSource`` never
waits its (real-time) backoff between rounds: the provider's own backoff, on the manual clock, is
what spaces out the retries. The only real waiting is the two timeout cases (1 s each).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

import pytest
from aliyunsdkcore.request import CommonRequest

from common_plugin.clock import ManualClock
from common_plugin.provider import CredentialsProvider
from common_plugin.refresh_policy import RefreshPolicy
from common_plugin.scheduler import ManualScheduler
from common_plugin.testing import THROTTLING, Fault, LocalAliyun
from sdk_core_plugin.proxy_acs_client import ProxyAcsClient

SECRET = "app-key"
GRACE = 4 * 3600.0  # the old key stays valid through every outage simulated here
POLICY = RefreshPolicy()  # what provider_from_config uses for backoff

MakeProvider = Callable[..., CredentialsProvider]

FAULTS: dict[str, Fault] = {
    "5xx": Fault("status", 503, "ServiceUnavailable"),
    "500-internal": Fault("status", 500, "InternalFailure"),
    "throttling": THROTTLING,
    "reset": Fault("reset"),
    "truncate": Fault("truncate"),
    "garbage": Fault("garbage"),
}
# mode -> (emulator service answering GetSecretValue, request_timeout, latency beyond it). The
# latency is never waited out (the emulator's stop() cuts it short), so it can be far beyond the
# timeout: however loaded the machine, the answer cannot arrive before the client gives up.
MODES = {"dkms": ("dkms", "1", 600.0), "gateway": ("kms", "1", 600.0)}


def describe_regions(client: ProxyAcsClient, cloud: LocalAliyun) -> dict[str, Any]:
    request = CommonRequest(
        domain=cloud.rpc_endpoint, version="2014-05-26", action_name="DescribeRegions", product="Ecs"
    )
    request.set_protocol_type("http")
    result: dict[str, Any] = json.loads(client.do_action_with_exception(request))
    return result


class Harness:
    """A provider on a manual clock and scheduler, and a business client using it."""

    def __init__(
        self,
        cloud: LocalAliyun,
        clock: ManualClock,
        provider: CredentialsProvider,
        scheduler: ManualScheduler,
    ) -> None:
        self.cloud = cloud
        self.clock = clock
        self.provider = provider
        self.scheduler = scheduler
        self.client = ProxyAcsClient(SECRET, provider=provider)
        self.business_calls = 0

    def call(self) -> str:
        """One business call; returns the AccessKeyId it was signed with."""
        assert describe_regions(self.client, self.cloud)["Regions"]
        self.business_calls += 1
        cred = self.provider.peek(SECRET)
        assert cred is not None
        return cred.access_key_id

    def next_refresh_at(self) -> float:
        jobs = self.scheduler.jobs()
        assert len(jobs) == 1, jobs  # one refresh chain per secret, never lost, never doubled
        return next(iter(jobs.values()))

    def run_next_refresh(self) -> float:
        """Advance the clock to the pending refresh and run it; returns the delay until the next one."""
        self.clock.set(self.next_refresh_at())
        assert self.scheduler.run_due(self.clock.time()) == 1  # exactly one job: no hot loop
        return self.next_refresh_at() - self.clock.time()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_800_000_000.0)


@pytest.fixture
def cloud(local_aliyun_factory: Callable[..., LocalAliyun], clock: ManualClock) -> LocalAliyun:
    cloud = local_aliyun_factory(clock=clock, seed=7)
    cloud.create_ram_secret(SECRET, rotation_interval_seconds=3600)
    return cloud


def harness(
    cloud: LocalAliyun, clock: ManualClock, make_provider: MakeProvider, mode: str = "dkms", **extra: str
) -> Harness:
    scheduler = ManualScheduler()
    provider = make_provider(cloud, mode=mode, scheduler=scheduler, clock=clock, **extra)
    return Harness(cloud, clock, provider, scheduler)


def fetches(cloud: LocalAliyun, service: str) -> int:
    return cloud.count(service, "GetSecretValue")


@pytest.mark.parametrize("fault_name", [*FAULTS, "timeout"])
@pytest.mark.parametrize("mode", list(MODES))
def test_refresh_survives_faults_and_recovers_by_itself(
    cloud: LocalAliyun, clock: ManualClock, make_provider: MakeProvider, mode: str, fault_name: str
) -> None:
    service, timeout, latency = MODES[mode]
    fault = Fault("latency", seconds=latency) if fault_name == "timeout" else FAULTS[fault_name]
    failures = 1 if fault_name == "timeout" else 3  # each timeout costs real seconds
    h = harness(cloud, clock, make_provider, mode, request_timeout=timeout, max_fetch_attempts="1")
    old = h.call()
    cloud.rotate(SECRET, grace_seconds=GRACE)
    new = cloud.current_key(SECRET).access_key_id
    cloud.inject_fault(service, fault, count=failures, action="GetSecretValue")

    for failure in range(1, failures + 1):
        delay = h.run_next_refresh()
        assert 0 < delay <= min(POLICY.backoff_max_seconds, POLICY.backoff_base_seconds * 2**failure)
        assert h.call() == old  # the cached key keeps serving

    h.run_next_refresh()  # the service is back: the chain picks up the rotated key by itself
    assert h.call() == new
    h.cloud.stop()  # joins the emulator's handler threads, so a timed-out request is counted too
    assert fetches(cloud, service) == 1 + failures + 1
    assert cloud.count("rpc", "DescribeRegions") == h.business_calls == failures + 2
    assert cloud.count("rpc", "DescribeRegions", old) == failures + 1
    assert cloud.state.error_count("rpc") == 0  # no business call was ever rejected


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _dkms_entry(cloud: LocalAliyun, endpoint: str | None = None) -> dict[str, object]:
    return {
        "regionId": cloud.region_id,
        "endpoint": endpoint or cloud.dkms_endpoint,
        "clientKeyFile": str(cloud.client_key_file),
        "passwordFromFilePath": str(cloud.client_key_password_file),
        "caFilePath": str(cloud.ca_file),
    }


@pytest.mark.parametrize("down", ["closed-port", "answers-503", "resets"])
def test_one_of_two_instances_down_fails_over_in_one_attempt(
    cloud: LocalAliyun,
    clock: ManualClock,
    make_provider: MakeProvider,
    local_aliyun_factory: Callable[..., LocalAliyun],
    down: str,
) -> None:
    other = local_aliyun_factory(clock=clock)  # the first instance; the test's cloud is the second
    if down == "closed-port":
        first = _dkms_entry(other, f"127.0.0.1:{_closed_port()}")
    else:
        first = _dkms_entry(other)
        other.inject_fault("dkms", Fault("reset") if down == "resets" else FAULTS["5xx"], count=None)
    instances = json.dumps([first, _dkms_entry(cloud)])
    h = harness(cloud, clock, make_provider, cache_client_dkms_config_info=instances, max_fetch_attempts="2")

    old = h.call()
    cloud.rotate(SECRET, grace_seconds=GRACE)
    h.run_next_refresh()
    assert h.call() == cloud.current_key(SECRET).access_key_id != old
    # two fetches (first load, refresh): each asked the dead instance once and the live one once
    assert fetches(cloud, "dkms") == 2
    assert other.count("dkms") == (0 if down == "closed-port" else 2)
    assert cloud.state.error_count("dkms") == 0


def test_all_down_for_30_simulated_minutes(
    cloud: LocalAliyun, clock: ManualClock, make_provider: MakeProvider
) -> None:
    dead = _dkms_entry(cloud, f"127.0.0.1:{_closed_port()}")
    instances = json.dumps([dead, _dkms_entry(cloud)])
    h = harness(cloud, clock, make_provider, cache_client_dkms_config_info=instances, max_fetch_attempts="2")
    old = h.call()
    cloud.rotate(SECRET, grace_seconds=GRACE)
    new = cloud.current_key(SECRET).access_key_id
    # everything is down: the first instance refuses connections, the second answers 503 / 429 /
    # garbage / resets in turn
    for fault in (FAULTS["5xx"], THROTTLING, FAULTS["garbage"], FAULTS["reset"]):
        cloud.inject_fault("dkms", fault, count=None, probability=0.25)
    cloud.inject_fault("dkms", FAULTS["500-internal"], count=None)  # whatever the dice say, it fails

    h.clock.set(h.next_refresh_at())
    outage_ends = h.clock.time() + 30 * 60
    attempts = 0
    delays: list[float] = []
    while h.next_refresh_at() < outage_ends:
        delays.append(h.run_next_refresh())
        attempts += 1
        assert h.call() == old  # business calls never fail: the cached key keeps serving
        assert 0 < delays[-1] <= min(POLICY.backoff_max_seconds, POLICY.backoff_base_seconds * 2**attempts)

    # Bounded by the backoff schedule (full jitter, capped at 300 s): ~20 attempts on average in
    # 30 minutes, a few dozen at most; a hot loop would make thousands.
    assert 5 <= attempts <= 80, attempts
    assert fetches(cloud, "dkms") == attempts + 1  # one request per attempt to the live instance

    cloud.clear_faults()
    h.clock.set(outage_ends)
    h.run_next_refresh()  # recovery needs nobody's help
    assert h.call() == new
    assert fetches(cloud, "dkms") == attempts + 2
    assert h.next_refresh_at() - h.clock.time() >= POLICY.min_interval_seconds  # back to the calm schedule
    assert cloud.state.error_count("rpc") == 0


def test_throttled_reactive_refresh_after_revoke_is_one_fetch_then_served_again(
    cloud: LocalAliyun, clock: ManualClock, make_provider: MakeProvider
) -> None:
    """A key revoked while KMS throttles: the call fails once, typed; the next one recovers."""
    h = harness(cloud, clock, make_provider, max_fetch_attempts="1")
    h.call()
    cloud.rotate(SECRET)  # immediate revoke: the cached key is now rejected
    cloud.inject_fault("dkms", THROTTLING, count=1, action="GetSecretValue")
    from aliyunsdkcore.acs_exception.exceptions import ServerException

    with pytest.raises(ServerException) as info:
        describe_regions(h.client, cloud)
    assert info.value.error_code == "InvalidAccessKeyId.NotFound"  # the SDK's own error, unchanged
    assert fetches(cloud, "dkms") == 2  # one reactive fetch, throttled; no retry storm
    assert h.call() == cloud.current_key(SECRET).access_key_id  # next use fetches and works
    assert fetches(cloud, "dkms") == 3

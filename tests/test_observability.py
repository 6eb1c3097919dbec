"""status(), events and counters, checked against the emulator's own request counts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aliyunsdkcore.request import CommonRequest

from common_plugin import ManualClock, ManualScheduler
from common_plugin.observability import CredentialEvent, EventKind
from common_plugin.provider import CredentialsProvider
from common_plugin.testing import THROTTLING, Fault, LocalAliyun
from sdk_core_plugin import ProxyAcsClient

SECRET = "app-key"


def call(client: ProxyAcsClient, cloud: LocalAliyun) -> None:
    request = CommonRequest(
        domain=cloud.rpc_endpoint, version="2014-05-26", action_name="DescribeRegions", product="Ecs"
    )
    request.set_protocol_type("http")
    client.do_action_with_exception(request)


@pytest.fixture
def env(
    local_aliyun_factory: Callable[..., LocalAliyun], make_provider: Callable[..., CredentialsProvider]
) -> tuple[LocalAliyun, CredentialsProvider, ManualScheduler, ManualClock, list[CredentialEvent]]:
    clock = ManualClock()
    cloud = local_aliyun_factory(clock=clock)
    cloud.create_ram_secret(SECRET, rotation_interval_seconds=6 * 3600)
    scheduler = ManualScheduler()
    provider = make_provider(cloud, scheduler=scheduler, max_fetch_attempts="1")
    events: list[CredentialEvent] = []
    provider.add_event_listener(events.append)
    return cloud, provider, scheduler, clock, events


def kinds(events: list[CredentialEvent]) -> list[str]:
    return [f"{e.kind.value}:{e.reason}" for e in events]


def test_revoke_counts_and_events_match_the_emulator(env: tuple) -> None:  # type: ignore[type-arg]
    cloud, provider, _scheduler, _clock, events = env
    client = ProxyAcsClient(SECRET, provider=provider)
    call(client, cloud)
    call(client, cloud)
    cloud.rotate(SECRET)
    call(client, cloud)
    status = provider.status()
    fetches = cloud.count("dkms", "GetSecretValue")
    assert fetches == 2
    assert status.counters["fetches"] == fetches == status.source["requests"]
    assert status.counters["reactive_refreshes"] == 1
    assert status.counters["retries"] == 1
    assert status.counters["rotations"] == 1
    assert status.counters["reads"] == 3  # one get() per call; the retry reuses the snapshot
    assert kinds(events) == [
        "fetch_succeeded:initial",
        "key_rejected:reactive",
        "fetch_succeeded:reactive",
        "rotation_picked_up:reactive",
        "retry_performed:reactive",
    ]
    health = status.secrets[SECRET]
    current = cloud.current_key(SECRET)
    assert health.masked_access_key_id == provider.get(SECRET).masked_access_key_id
    assert current.access_key_id not in repr(status) and current.access_key_secret not in repr(status)
    assert current.access_key_secret not in repr(events)
    assert health.next_refresh_at is not None and not health.stale


def test_outage_makes_the_key_stale_and_recovery_ends_it(env: tuple) -> None:  # type: ignore[type-arg]
    cloud, provider, scheduler, clock, events = env
    provider.get(SECRET)
    cloud.inject_fault("dkms", Fault("status", 500, "InternalFailure"), count=None)
    for _ in range(3):
        due = scheduler.next_run_at(next(iter(scheduler.jobs())))
        assert due is not None
        clock.set(max(due, clock.time()))
        scheduler.run_due(clock.time())
    status = provider.status()
    health = status.secrets[SECRET]
    failed_requests = cloud.count("dkms", "GetSecretValue") - 1
    assert health.consecutive_failures == 3 and health.stale
    assert health.last_error_code == "InternalFailure" and health.last_error_type == "SecretFetchError"
    assert status.failures_by_code == {"InternalFailure": 3}
    assert status.source["request_failures"] == failed_requests  # every request the emulator saw failed
    assert status.source["requests"] == cloud.count("dkms", "GetSecretValue")
    stale_since = health.stale_since
    cloud.clear_faults()
    due = scheduler.next_run_at(next(iter(scheduler.jobs())))
    assert due is not None
    clock.set(max(due, clock.time()))
    scheduler.run_due(clock.time())
    health = provider.status().secrets[SECRET]
    assert not health.stale and health.consecutive_failures == 0
    assert health.last_success_at == clock.time()
    assert kinds(events).count("stale_started:proactive") == 1
    assert kinds(events)[-2:] == ["fetch_succeeded:proactive", "stale_ended:proactive"]
    assert stale_since is not None and stale_since < clock.time()


def test_throttling_is_counted(env: tuple) -> None:  # type: ignore[type-arg]
    cloud, provider, scheduler, clock, _events = env
    provider.get(SECRET)
    cloud.inject_fault("dkms", THROTTLING, count=None)
    due = scheduler.next_run_at(next(iter(scheduler.jobs())))
    assert due is not None
    clock.set(due)
    scheduler.run_due(clock.time())
    status = provider.status()
    assert status.counters["throttled"] == 1 == status.counters["fetch_failures"]
    assert status.failures_by_code == {"Rejected.Throttling": 1}
    throttled_requests = cloud.count("dkms", "GetSecretValue") - 1
    assert status.source["request_failures"] == throttled_requests


def test_a_raising_event_listener_is_ignored(env: tuple) -> None:  # type: ignore[type-arg]
    _cloud, provider, _scheduler, _clock, events = env

    def broken(event: CredentialEvent) -> None:
        raise RuntimeError("listener bug")

    provider.add_event_listener(broken)
    assert provider.get(SECRET).access_key_id
    assert [e.kind for e in events] == [EventKind.FETCH_SUCCEEDED]


def test_prometheus_collector(env: tuple) -> None:  # type: ignore[type-arg]
    prometheus_client = pytest.importorskip("prometheus_client")
    from common_plugin.metrics import register_prometheus

    _cloud, provider, _scheduler, _clock, _events = env
    provider.get(SECRET)
    registry = prometheus_client.CollectorRegistry()
    register_prometheus(provider, registry)
    text = prometheus_client.generate_latest(registry).decode()
    assert "managed_credentials_fetches_total 1.0" in text
    assert 'managed_credentials_secret_stale{secret="app-key"} 0.0' in text
    assert 'managed_credentials_secret_next_refresh_timestamp_seconds{secret="app-key"}' in text

"""No expired key handed out: the advisory and mandatory windows of an STS-token secret (issue 13, item 1).

Every test runs the real gateway source against the emulator, whose STS tokens expire on the same
``ManualClock`` as the provider's; a ``ManualScheduler`` runs the background refresh by hand. A KMS
outage is an emulator fault on ``GetSecretValue``; fetches are counted by the emulator. One attempt
per fetch (``max_fetch_attempts=1``), so one fetch is one request and no real-time backoff runs.
"""

from __future__ import annotations

import asyncio
import math
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from common_plugin.adapters.aio import get_async
from common_plugin.clock import ManualClock
from common_plugin.config import load_config
from common_plugin.credentials import ManagedCredential, SecretValue
from common_plugin.exceptions import CredentialExpiredError, SecretFetchError
from common_plugin.observability import CredentialEvent, EventKind
from common_plugin.provider import CredentialsProvider
from common_plugin.refresh_policy import RefreshPolicy
from common_plugin.scheduler import ManualScheduler
from common_plugin.sources.base import SecretSource
from common_plugin.sources.factory import build_source
from common_plugin.testing import Fault, LocalAliyun

SECRET = "sts-key"
TTL = 3600.0
START = 1_800_000_000.0
WAIT = 10.0
POLICY = RefreshPolicy()
OUTAGE = Fault("status", 503, "ServiceUnavailable")

MakeProvider = Callable[..., CredentialsProvider]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def cloud(local_aliyun_factory: Callable[..., LocalAliyun], clock: ManualClock) -> LocalAliyun:
    cloud = local_aliyun_factory(clock=clock, seed=3)
    cloud.create_ram_secret(SECRET, with_sts_token=True, token_ttl_seconds=TTL)
    return cloud


def fetches(cloud: LocalAliyun) -> int:
    return cloud.count("kms", "GetSecretValue")


def expiring(cred: ManagedCredential) -> float:
    assert cred.expires_at is not None and cred.security_token
    return cred.expires_at


def kms_down(cloud: LocalAliyun) -> None:
    cloud.inject_fault("kms", OUTAGE, count=None, action="GetSecretValue")


def test_served_before_the_mandatory_window_through_a_kms_outage(
    cloud: LocalAliyun, clock: ManualClock, make_provider: MakeProvider
) -> None:
    scheduler = ManualScheduler()
    provider = make_provider(cloud, mode="gateway", scheduler=scheduler, clock=clock, max_fetch_attempts="1")
    cred = provider.get(SECRET)
    expires_at = expiring(cred)
    kms_down(cloud)
    (advisory_at,) = scheduler.jobs().values()
    assert advisory_at == POLICY.refresh_due_at(cred) < cred.mandatory_refresh_at < expires_at
    clock.set(advisory_at)
    assert scheduler.run_due(clock.time()) == 1  # the background refresh fails ...
    assert fetches(cloud) == 2
    for now in (advisory_at + 1, cred.mandatory_refresh_at - 1):
        clock.set(now)
        assert provider.get(SECRET) is cred  # ... and readers keep the cached token, without waiting
    assert fetches(cloud) == 2


def test_mandatory_window_through_an_outage_tries_once_and_serves_the_valid_token(
    cloud: LocalAliyun, clock: ManualClock, make_provider: MakeProvider
) -> None:
    provider = make_provider(cloud, mode="gateway", clock=clock, max_fetch_attempts="1")
    cred = provider.get(SECRET)
    expires_at = expiring(cred)
    kms_down(cloud)
    clock.set(cred.mandatory_refresh_at)
    events: list[CredentialEvent] = []
    provider.add_event_listener(events.append)
    served = provider.get(SECRET)  # one synchronous try, which fails: the token is still valid
    assert fetches(cloud) == 2
    assert [(e.kind, e.reason) for e in events] == [(EventKind.FETCH_FAILED, "mandatory")]
    assert served.access_key_id == cred.access_key_id and served.security_token == cred.security_token
    assert served.mandatory_refresh_at == clock.time() + POLICY.mandatory_retry_seconds < expires_at
    clock.advance(POLICY.mandatory_retry_seconds - 1)
    assert provider.get(SECRET) is served  # no fetch before every call during the outage
    assert fetches(cloud) == 2
    clock.advance(1)
    provider.get(SECRET)
    assert fetches(cloud) == 3


class GatedSource(SecretSource):
    """The real source behind a gate: a fetch waits for :meth:`release` (entered: ``entered``)."""

    def __init__(self, inner: SecretSource) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.held = False

    def get_secret_value(self, secret_name: str) -> SecretValue:
        if self.held:
            self.entered.set()
            assert self.gate.wait(WAIT)
        return self.inner.get_secret_value(secret_name)

    def close(self) -> None:
        self.inner.close()


def parked(thread: threading.Thread) -> bool:
    """Whether ``thread`` is blocked waiting in ``threading`` (on the gate, or on a shared fetch)
    from inside ``CredentialsProvider.get``."""
    frame = sys._current_frames().get(thread.ident or -1)
    waiting = in_get = False
    while frame is not None:
        code = frame.f_code
        waiting = waiting or (code.co_name == "wait" and code.co_filename == threading.__file__)
        in_get = in_get or code is CredentialsProvider.get.__code__
        frame = frame.f_back
    return waiting and in_get


def wait_until(condition: Callable[[], bool]) -> None:
    done = threading.Event()
    for _ in range(int(WAIT / 0.01)):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError("condition not reached")


@pytest.fixture
def gated(
    cloud: LocalAliyun, clock: ManualClock, tmp_path: Path
) -> Iterator[tuple[CredentialsProvider, GatedSource]]:
    extra = {"max_fetch_attempts": "1"}
    properties = cloud.write_properties(tmp_path / "p.properties", mode="gateway", extra=extra)
    config = load_config(properties)
    source = GatedSource(build_source(config))
    provider = CredentialsProvider(source, clock=clock, scheduler=ManualScheduler(), owns_source=True)
    yield provider, source
    source.gate.set()
    provider.close()


def test_mandatory_window_refreshes_synchronously_once_for_16_threads(
    cloud: LocalAliyun, clock: ManualClock, gated: tuple[CredentialsProvider, GatedSource]
) -> None:
    provider, source = gated
    old = provider.get(SECRET)
    cloud.rotate(SECRET)  # the secret now holds a fresh token
    clock.set(old.mandatory_refresh_at)
    source.held = True
    results: list[ManagedCredential | None] = [None] * 16
    barrier = threading.Barrier(16)

    def reader(i: int) -> None:
        barrier.wait(WAIT)
        results[i] = provider.get(SECRET)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    assert source.entered.wait(WAIT)
    # Every reader is inside get() at once: one in the fetch, fifteen waiting for it.
    wait_until(lambda: all(parked(thread) for thread in threads))
    source.gate.set()
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()
    assert fetches(cloud) == 2  # the first load, and one synchronous refresh for all sixteen
    new = cloud.current_key(SECRET)
    assert {id(r) for r in results} == {id(results[0])}
    assert results[0] is not None and results[0].access_key_id == new.access_key_id != old.access_key_id
    assert clock.time() < results[0].mandatory_refresh_at


def test_past_expiry_with_kms_down_raises_a_typed_error_and_recovers(
    cloud: LocalAliyun, clock: ManualClock, make_provider: MakeProvider
) -> None:
    provider = make_provider(cloud, mode="gateway", clock=clock, max_fetch_attempts="1")
    cred = provider.get(SECRET)
    expires_at = expiring(cred)
    kms_down(cloud)
    clock.set(expires_at)
    for _ in range(2):  # every call past expiry tries to fetch, and refuses the dead token
        with pytest.raises(CredentialExpiredError) as info:
            provider.get(SECRET)
        assert isinstance(info.value, SecretFetchError)
        assert info.value.expired_at == expires_at and info.value.secret_name == SECRET
        assert info.value.code == "ServiceUnavailable"
        assert isinstance(info.value.__cause__, SecretFetchError)
        assert SECRET in str(info.value) and str(cred.security_token) not in str(info.value)
    assert provider.get_cached(SECRET) is None
    with pytest.raises(CredentialExpiredError):
        asyncio.run(get_async(provider, SECRET))  # the asyncio path refuses it too
    assert fetches(cloud) == 4
    cloud.clear_faults()
    cloud.rotate(SECRET)
    fresh = provider.get(SECRET)
    assert fresh.access_key_id == cloud.current_key(SECRET).access_key_id and expiring(fresh) > clock.time()


@pytest.mark.parametrize("late_by", [0.0, 1.0], ids=["at-expiry", "past-expiry"])
def test_a_token_returned_already_expired_is_refused(
    cloud: LocalAliyun, clock: ManualClock, make_provider: MakeProvider, late_by: float
) -> None:
    provider = make_provider(cloud, mode="gateway", clock=clock, max_fetch_attempts="1")
    expires_at = expiring(provider.get(SECRET))
    clock.set(expires_at + late_by)  # KMS is up but still holds the old version (rotation not running)
    with pytest.raises(CredentialExpiredError) as info:
        provider.get(SECRET)
    assert info.value.expired_at == expires_at and "already expired" in str(info.value)
    assert fetches(cloud) == 2


def test_a_ram_user_key_without_expiry_is_unaffected(
    cloud: LocalAliyun, clock: ManualClock, make_provider: MakeProvider
) -> None:
    cloud.create_ram_secret("user-key")
    provider = make_provider(cloud, mode="gateway", clock=clock, max_fetch_attempts="1")
    cred = provider.get("user-key")
    assert cred.expires_at is None and cred.mandatory_refresh_at == math.inf
    kms_down(cloud)
    clock.advance(365 * 86400.0)
    assert provider.get("user-key") is cred
    assert provider.get_cached("user-key") is cred
    assert asyncio.run(get_async(provider, "user-key")) is cred
    assert fetches(cloud) == 1

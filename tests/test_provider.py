from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from forking import run_in_child

from common_plugin._snapshot_cache import SnapshotCache
from common_plugin.clock import ManualClock
from common_plugin.credentials import ManagedCredential, SecretValue
from common_plugin.exceptions import MalformedSecretError, ProviderClosedError, SecretFetchError
from common_plugin.observability import EventKind
from common_plugin.provider import CredentialsProvider
from common_plugin.refresh_policy import RefreshPolicy
from common_plugin.scheduler import ManualScheduler
from common_plugin.sources.base import SecretSource

WAIT = 30.0  # seconds; a safety net against a hang, never reached when the code works
START = 1_800_000_000.0
NAME = "app-ak"


def secret_of(key_id: str) -> str:
    return f"secret-for-{key_id}"


class FakeSource(SecretSource):
    """In-memory secrets; counts calls; can hold a fetch in flight (``gate``) or fail (``errors``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values: dict[str, SecretValue] = {}
        self.calls: Counter[str] = Counter()
        self.errors: list[BaseException] = []
        self.gate: threading.Event | None = None
        self._held: list[threading.Event] = []
        self.entered = threading.Event()
        self.on_enter: Callable[[], None] | None = None  # called by every fetch, before the gate

    def hold(self) -> None:
        """Make the next fetches block until :meth:`release`."""
        self.entered.clear()
        self.gate = threading.Event()
        self._held.append(self.gate)

    def release(self) -> None:
        self.gate = None
        for gate in self._held:
            gate.set()

    def set(self, name: str, key_id: str, version: str = "v1", **meta: Any) -> None:
        """Store a RAM credential; CamelCase ``meta`` goes into SecretData, the rest into SecretValue."""
        extra = {k: v for k, v in meta.items() if k[0].isupper()}
        data = json.dumps({"AccessKeyId": key_id, "AccessKeySecret": secret_of(key_id), **extra})
        value = SecretValue(
            secret_name=name, secret_data=data, secret_type="RAMCredentials", version_id=version
        )
        value = dataclasses.replace(value, **{k: v for k, v in meta.items() if not k[0].isupper()})
        with self._lock:
            self.values[name] = value

    def set_raw(self, name: str, data: str) -> None:
        with self._lock:
            self.values[name] = SecretValue(secret_name=name, secret_data=data, secret_type="RAMCredentials")

    def get_secret_value(self, secret_name: str) -> SecretValue:
        with self._lock:
            self.calls[secret_name] += 1
            error = self.errors.pop(0) if self.errors else None
            gate = self.gate
        self.entered.set()
        if self.on_enter is not None:
            self.on_enter()
        if gate is not None:
            assert gate.wait(WAIT)
        with self._lock:
            value = self.values.get(secret_name)
        if error is not None:
            raise error
        if value is None:
            raise SecretFetchError(
                "no such secret", secret_name=secret_name, code="Forbidden.ResourceNotFound"
            )
        return value


@pytest.fixture
def source() -> FakeSource:
    src = FakeSource()
    src.set(NAME, "LTAIfirstkey0001")
    return src


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def sched() -> ManualScheduler:
    return ManualScheduler()


@pytest.fixture
def provider(source: FakeSource, clock: ManualClock, sched: ManualScheduler) -> Iterator[CredentialsProvider]:
    p = CredentialsProvider(source, clock=clock, scheduler=sched, rng=random.Random(7))
    yield p
    p.close()


def start_threads(n: int, target: Callable[[], object]) -> tuple[list[threading.Thread], list[object]]:
    """Start ``n`` threads that call ``target`` together; results land in the returned list."""
    results: list[object] = [None] * n
    barrier = threading.Barrier(n)

    def worker(i: int) -> None:
        barrier.wait(WAIT)
        results[i] = target()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return threads, results


def join_all(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.join(WAIT)
        assert not t.is_alive()


def only_job(sched: ManualScheduler) -> float:
    jobs = sched.jobs()
    assert len(jobs) == 1, jobs
    return next(iter(jobs.values()))


def assert_consistent(cred: object) -> None:
    assert isinstance(cred, ManagedCredential)
    assert cred.access_key_secret == secret_of(cred.access_key_id)


# -- reading ---------------------------------------------------------------------------------


def test_hot_path_returns_the_same_snapshot_object(provider: CredentialsProvider, source: FakeSource) -> None:
    first = provider.get(NAME)
    assert provider.get(NAME) is first
    assert provider.peek(NAME) is first
    assert source.calls[NAME] == 1
    assert provider.cached_names() == [NAME]
    assert first.fetched_at == START


def test_cold_get_errors_propagate(provider: CredentialsProvider, source: FakeSource) -> None:
    with pytest.raises(SecretFetchError):
        provider.get("missing")
    source.set_raw("bad", "not json")
    with pytest.raises(MalformedSecretError):
        provider.get("bad")
    assert provider.peek("missing") is None
    with pytest.raises(ValueError):
        provider.get("")


def test_cold_gets_are_single_flight_and_secrets_do_not_block_each_other(
    provider: CredentialsProvider, source: FakeSource
) -> None:
    source.set("other", "LTAIotherkey0001")
    source.hold()
    threads, results = start_threads(16, lambda: provider.get(NAME))
    assert source.entered.wait(WAIT)
    source.gate = None  # a different secret is fetched while the first fetch is still held
    assert provider.get("other").access_key_id == "LTAIotherkey0001"
    source.release()
    join_all(threads)
    assert source.calls[NAME] == 1
    assert len({id(r) for r in results}) == 1
    assert_consistent(results[0])


class Blocked:
    """Counts the threads blocked in the provider while the source holds its fetches: those waiting
    for a fetch in flight, and those inside the source. Lets a test release a held fetch only once
    every caller has either joined it or started a fetch of its own, whatever the timing."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, source: FakeSource) -> None:
        from common_plugin._secret_state import Flight

        self._changed = threading.Condition()
        self.count = 0
        original_wait = Flight.wait

        def observed_wait(flight: Flight) -> ManagedCredential:
            self._arrive()
            return original_wait(flight)

        monkeypatch.setattr(Flight, "wait", observed_wait)
        source.on_enter = self._arrive

    def _arrive(self) -> None:
        with self._changed:
            self.count += 1
            self._changed.notify_all()

    def wait_for(self, n: int) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.count >= n, WAIT)


def test_a_get_that_missed_the_cache_while_a_fetch_ended_does_not_fetch_again(
    provider: CredentialsProvider, source: FakeSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader that missed the lock-free lookup just before the fetch it would have joined ended
    must find the result under the lock, not start a second fetch. The reader is paused in exactly
    that window (between its miss and the state lock) until the fetch has ended."""
    missed, proceed = threading.Event(), threading.Event()
    original_state = SnapshotCache.state

    def paused_state(self: SnapshotCache, name: str) -> Any:
        if threading.current_thread().name == "late":
            missed.set()
            assert proceed.wait(WAIT)
        return original_state(self, name)

    monkeypatch.setattr(SnapshotCache, "state", paused_state)
    source.hold()
    first: list[ManagedCredential] = []
    leader = threading.Thread(target=lambda: first.append(provider.get(NAME)))
    leader.start()
    assert source.entered.wait(WAIT)
    late_result: list[ManagedCredential] = []
    late = threading.Thread(target=lambda: late_result.append(provider.get(NAME)), name="late")
    late.start()
    assert missed.wait(WAIT)  # the late reader found no cached key
    source.release()
    join_all([leader])  # the fetch has ended and its key is cached
    proceed.set()
    join_all([late])
    assert source.calls[NAME] == 1
    assert late_result == first


def test_concurrent_forced_refreshes_share_one_fetch(
    provider: CredentialsProvider, source: FakeSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider.get(NAME)
    source.set(NAME, "LTAIsecondkey002", version="v2")
    blocked = Blocked(monkeypatch, source)
    source.hold()
    threads, results = start_threads(8, lambda: provider.refresh(NAME))
    assert blocked.wait_for(8)  # the leader in the held fetch, 7 joiners waiting for it
    source.release()
    join_all(threads)
    assert source.calls[NAME] == 2  # the first get + one fetch for all 8 forced refreshes
    assert len({id(r) for r in results}) == 1
    assert all(isinstance(r, ManagedCredential) and r.access_key_id == "LTAIsecondkey002" for r in results)
    assert provider.get(NAME) is results[0]


def test_readers_never_see_a_mixed_pair_across_rotations(
    provider: CredentialsProvider, source: FakeSource
) -> None:
    provider.get(NAME)
    stop = threading.Event()
    bad: list[ManagedCredential] = []
    reads = Counter[str]()

    def reader() -> None:
        while not stop.is_set():
            cred = provider.get(NAME)
            reads[cred.access_key_id] += 1
            if cred.access_key_secret != secret_of(cred.access_key_id):
                bad.append(cred)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # interleave readers with the writer as much as possible
    try:
        for t in threads:
            t.start()
        for i in range(300):
            source.set(NAME, f"LTAIrotation{i:04d}", version=f"v{i}")
            provider.refresh(NAME)
        stop.set()
        join_all(threads)
    finally:
        sys.setswitchinterval(interval)
    assert not bad
    assert len(reads) > 1


# -- refresh_rejected --------------------------------------------------------------------------


def test_64_threads_reporting_the_same_rejected_key_cause_one_fetch(
    provider: CredentialsProvider, source: FakeSource
) -> None:
    old = provider.get(NAME)
    source.set(NAME, "LTAIsecondkey002", version="v2")
    source.hold()
    threads, results = start_threads(64, lambda: provider.refresh_rejected(NAME, old))
    assert source.entered.wait(WAIT)
    source.release()
    join_all(threads)
    assert source.calls[NAME] == 2  # the first get + exactly one reactive fetch
    new = provider.get(NAME)
    assert new.access_key_id == "LTAIsecondkey002"
    assert all(r is new for r in results)
    # A late reporter of the same rejected key gets the new key without any fetch.
    assert provider.refresh_rejected(NAME, old) is new
    assert source.calls[NAME] == 2


def test_64_threads_and_a_failing_fetch_cause_one_fetch_and_one_drop(
    provider: CredentialsProvider, source: FakeSource, caplog: pytest.LogCaptureFixture
) -> None:
    old = provider.get(NAME)
    source.errors.append(SecretFetchError("down", secret_name=NAME, retryable=True))
    source.hold()
    with caplog.at_level(logging.WARNING, logger="common_plugin.provider"):
        threads, results = start_threads(64, lambda: provider.refresh_rejected(NAME, old))
        assert source.entered.wait(WAIT)
        source.release()
        join_all(threads)
    assert results == [None] * 64
    assert source.calls[NAME] == 2
    assert provider.peek(NAME) is None
    assert len([r for r in caplog.records if "dropped from the cache" in r.getMessage()]) == 1


def test_64_threads_and_the_same_key_returned_cause_one_fetch(
    provider: CredentialsProvider, source: FakeSource
) -> None:
    old = provider.get(NAME)
    source.hold()
    threads, results = start_threads(64, lambda: provider.refresh_rejected(NAME, old))
    assert source.entered.wait(WAIT)
    source.release()
    join_all(threads)
    assert results == [None] * 64
    assert source.calls[NAME] == 2


def test_rejected_key_returned_again_gives_none_and_does_not_loop(
    provider: CredentialsProvider, source: FakeSource, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    old = provider.get(NAME)
    with caplog.at_level(logging.WARNING, logger="common_plugin.provider"):
        assert provider.refresh_rejected(NAME, old) is None
        assert source.calls[NAME] == 2
        assert provider.refresh_rejected(NAME, old) is None  # within the backoff: no fetch
        assert provider.refresh_rejected(NAME, provider.get(NAME)) is None
    assert source.calls[NAME] == 2
    assert len([r for r in caplog.records if "still the current version" in r.getMessage()]) == 1
    assert provider.get(NAME).access_key_id == old.access_key_id  # still served: it is all we have
    clock.advance(RefreshPolicy().rejected_backoff_seconds + 0.1)
    source.set(NAME, "LTAIsecondkey002", version="v2")
    assert provider.refresh_rejected(NAME, old) is provider.get(NAME)
    assert source.calls[NAME] == 3


def test_suppressing_one_rejected_key_does_not_suppress_the_next(
    provider: CredentialsProvider, source: FakeSource, clock: ManualClock
) -> None:
    """The backoff after "the same key came back" holds for that key only: a rotation picked up
    meanwhile whose key is rejected in turn is replaced at once."""
    first = provider.get(NAME)
    assert provider.refresh_rejected(NAME, first) is None  # the same key came back: suppressed
    source.set(NAME, "LTAIsecondkey002", version="v2")
    second = provider.refresh(NAME)
    clock.advance(RefreshPolicy().rejected_backoff_seconds / 2)  # still inside the first's backoff
    source.set(NAME, "LTAIthirdkey0003", version="v3")
    third = provider.refresh_rejected(NAME, second)
    assert third is not None and third.access_key_id == "LTAIthirdkey0003"
    assert source.calls[NAME] == 4


def test_a_failed_reactive_fetch_drops_the_key_as_its_flight_ends(
    provider: CredentialsProvider, source: FakeSource
) -> None:
    """The drop happens in the critical section that ends the flight: whatever runs first after it
    (here an event listener on the fetching thread) already finds the rejected key gone."""
    old = provider.get(NAME)
    seen: list[ManagedCredential | None] = []
    provider.add_event_listener(
        lambda event: seen.append(provider.peek(NAME)) if event.kind is EventKind.FETCH_FAILED else None
    )
    source.errors.append(SecretFetchError("down", secret_name=NAME, retryable=True))
    assert provider.refresh_rejected(NAME, old) is None
    assert seen == [None]


def test_the_rejected_key_returned_again_is_suppressed_as_its_flight_ends(
    provider: CredentialsProvider, source: FakeSource
) -> None:
    """A report of the same rejected key that arrives just as the fetch brings that key back (here
    from an event listener on the fetching thread) is already suppressed: no second fetch."""
    old = provider.get(NAME)
    nested: list[ManagedCredential | None] = []
    asked: list[bool] = []

    def report_again(event: Any) -> None:
        if event.kind is EventKind.FETCH_SUCCEEDED and not asked:
            asked.append(True)
            nested.append(provider.refresh_rejected(NAME, old))

    provider.add_event_listener(report_again)
    assert provider.refresh_rejected(NAME, old) is None
    assert nested == [None]
    assert source.calls[NAME] == 2  # the first get + one reactive fetch


def test_a_rejection_that_joined_a_failing_forced_refresh_drops_and_suppresses_the_key(
    provider: CredentialsProvider, source: FakeSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thread that reported the rejection joined a fetch it did not start (a forced refresh,
    which keeps the cached key when it fails): it applies the rejection outcome itself."""
    old = provider.get(NAME)
    blocked = Blocked(monkeypatch, source)
    source.errors.append(SecretFetchError("down", secret_name=NAME, retryable=True))
    source.hold()
    forced_errors: list[BaseException] = []

    def forced() -> None:
        try:
            provider.refresh(NAME)
        except SecretFetchError as exc:
            forced_errors.append(exc)

    leader = threading.Thread(target=forced)
    leader.start()
    assert blocked.wait_for(1)  # the forced refresh is in the source
    result: list[ManagedCredential | None] = []
    joiner = threading.Thread(target=lambda: result.append(provider.refresh_rejected(NAME, old)))
    joiner.start()
    assert blocked.wait_for(2)  # the rejection joined it
    source.release()
    join_all([leader, joiner])
    assert len(forced_errors) == 1 and result == [None]
    assert source.calls[NAME] == 2
    assert provider.peek(NAME) is None  # dropped: it was rejected and could not be replaced
    assert provider.refresh_rejected(NAME, old) is None  # suppressed: no fetch
    assert source.calls[NAME] == 2


@pytest.mark.parametrize("changed", ["secret", "token"])
def test_a_version_that_changes_only_the_secret_or_the_token_is_a_new_key(
    provider: CredentialsProvider, source: FakeSource, changed: str
) -> None:
    def version(secret: str, token: str) -> str:
        return json.dumps(
            {"AccessKeyId": "LTAIsamekeyid001", "AccessKeySecret": secret, "SecurityToken": token}
        )

    source.set_raw(NAME, version("secret-one-0001", "token-one-0001"))
    old = provider.get(NAME)
    if changed == "secret":
        source.set_raw(NAME, version("secret-two-0002", "token-one-0001"))
    else:
        source.set_raw(NAME, version("secret-one-0001", "token-two-0002"))
    fresh = provider.refresh_rejected(NAME, old)
    assert fresh is not None and fresh is provider.get(NAME)
    assert (fresh.access_key_secret, fresh.security_token) != (old.access_key_secret, old.security_token)


def test_fetch_failure_after_rejection_drops_the_key_and_next_get_fetches(
    provider: CredentialsProvider, source: FakeSource, caplog: pytest.LogCaptureFixture
) -> None:
    old = provider.get(NAME)
    source.errors.append(SecretFetchError("down", secret_name=NAME, retryable=True))
    with caplog.at_level(logging.WARNING, logger="common_plugin.provider"):
        assert provider.refresh_rejected(NAME, old) is None
    assert provider.peek(NAME) is None
    assert any("dropped from the cache" in r.getMessage() for r in caplog.records)
    source.errors.append(SecretFetchError("still down", secret_name=NAME, retryable=True))
    with pytest.raises(SecretFetchError):
        provider.get(NAME)
    source.set(NAME, "LTAIsecondkey002", version="v2")
    assert provider.get(NAME).access_key_id == "LTAIsecondkey002"
    assert source.calls[NAME] == 4


def test_a_source_closed_under_a_mandatory_refresh_is_not_served_around(
    provider: CredentialsProvider, source: FakeSource, clock: ManualClock
) -> None:
    """A failed refresh in the mandatory window serves the still-valid token (an outage), but a
    source that says it was closed is no outage: its ProviderClosedError reaches the caller."""
    source.set(NAME, "STS.firstkey00001", SecurityToken="token-one", ExpireTimestamp=iso(START + 3600))
    cred = provider.get(NAME)
    clock.set(cred.mandatory_refresh_at)
    source.errors.append(ProviderClosedError("the source was closed"))
    with pytest.raises(ProviderClosedError):
        provider.get(NAME)
    source.errors.append(SecretFetchError("down", secret_name=NAME, retryable=True))
    assert provider.get(NAME).security_token == "token-one"  # an outage: the valid token is served


def test_transient_background_failure_keeps_serving_the_cached_key(
    provider: CredentialsProvider, source: FakeSource, sched: ManualScheduler, clock: ManualClock
) -> None:
    cred = provider.get(NAME)
    source.errors.append(SecretFetchError("down", secret_name=NAME, retryable=True))
    clock.set(only_job(sched))
    assert sched.run_due(clock.time()) == 1
    assert provider.get(NAME) is cred


# -- proactive refresh ---------------------------------------------------------------------------


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@pytest.mark.parametrize(
    "meta, low, high",
    [
        ({"next_rotation_date": iso(START + 7200)}, 7200 + 60, 7200 + 360),
        ({"ScheduleRotateTimestamp": str(int(START + 3600))}, 3600 + 60, 3600 + 360),
        ({"rotation_interval": "1800s"}, 1800 * 0.9, 1800),
        ({"RefreshInterval": "2400"}, 2400 * 0.9, 2400),
        ({}, 6 * 3600 * 0.9, 6 * 3600),
    ],
    ids=["NextRotationDate", "ScheduleRotateTimestamp", "RotationInterval", "RefreshInterval", "default"],
)
def test_proactive_refresh_is_scheduled_from_the_secret(
    provider: CredentialsProvider,
    source: FakeSource,
    sched: ManualScheduler,
    meta: dict[str, str],
    low: float,
    high: float,
) -> None:
    source.set(NAME, "LTAIfirstkey0001", **meta)
    provider.get(NAME)
    assert START + low <= only_job(sched) <= START + high


def test_proactive_refresh_picks_up_a_rotation_and_reschedules(
    provider: CredentialsProvider,
    source: FakeSource,
    sched: ManualScheduler,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    source.set(NAME, "LTAIfirstkey0001", next_rotation_date=iso(START + 3600))
    old = provider.get(NAME)
    seen: list[tuple[str, ManagedCredential | None, ManagedCredential]] = []
    provider.add_listener(lambda n, o, c: seen.append((n, o, c)))
    source.set(NAME, "LTAIsecondkey002", version="v2", next_rotation_date=iso(START + 90000))
    clock.set(only_job(sched))
    with caplog.at_level(logging.DEBUG, logger="common_plugin"):
        assert sched.run_due(clock.time()) == 1
    new = provider.get(NAME)
    assert new.access_key_id == "LTAIsecondkey002"
    assert seen == [(NAME, old, new)]
    # The next rotation is 25 h away, so the 6 h default (made early by up to 10%) wins.
    assert clock.time() + 0.9 * 6 * 3600 <= only_job(sched) <= clock.time() + 6 * 3600
    rotated = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(rotated) == 1
    message = rotated[0].getMessage()
    assert NAME in message and "LTAI****0001" in message and "LTAI****y002" in message and "v2" in message
    assert "secret-for-" not in caplog.text
    # A refresh that returns the same key notifies nobody and logs no rotation.
    clock.set(only_job(sched))
    with caplog.at_level(logging.INFO, logger="common_plugin"):
        caplog.clear()
        assert sched.run_due(clock.time()) == 1
    assert len(seen) == 1 and not caplog.records


def test_failure_reschedules_with_backoff(
    provider: CredentialsProvider, source: FakeSource, sched: ManualScheduler, clock: ManualClock
) -> None:
    provider.get(NAME)
    clock.set(only_job(sched))
    source.errors.append(SecretFetchError("throttled", secret_name=NAME, code="Rejected.Throttling"))
    sched.run_due(clock.time())
    assert clock.time() <= only_job(sched) <= clock.time() + 2.0  # base 1 s * 2**1


def test_the_chain_survives_ten_failures_of_mixed_types_and_recovers(
    provider: CredentialsProvider,
    source: FakeSource,
    sched: ManualScheduler,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cred = provider.get(NAME)
    errors: list[BaseException] = [
        SecretFetchError("5xx", secret_name=NAME, http_status=503, retryable=True),
        SecretFetchError("throttled", secret_name=NAME, code="Rejected.Throttling"),
        RuntimeError("server exception"),
        ValueError("odd"),
        KeyError("missing"),
        OSError("network"),
        TimeoutError("slow"),
        SecretFetchError("denied", secret_name=NAME, code="Forbidden"),
        AttributeError("bug in a source"),
        ConnectionResetError("reset"),
    ]
    source.errors.extend(errors)
    with caplog.at_level(logging.WARNING, logger="common_plugin.provider"):
        for attempt in range(1, 11):
            due = only_job(sched)
            clock.set(max(due, clock.time()))
            assert sched.run_due(clock.time()) == 1
            assert clock.time() <= only_job(sched) <= clock.time() + min(300.0, 2.0**attempt)
            assert provider.get(NAME) is cred
    failures = [r for r in caplog.records if "background refresh" in r.getMessage()]
    assert len(failures) == 10 and all(r.exc_info for r in failures)
    assert "secret-for-" not in caplog.text
    source.set(NAME, "LTAIsecondkey002", version="v2")
    clock.set(only_job(sched))
    sched.run_due(clock.time())
    assert provider.get(NAME).access_key_id == "LTAIsecondkey002"
    assert only_job(sched) >= clock.time() + RefreshPolicy().min_interval_seconds


class CeilingRandom(random.Random):
    """Every jitter and backoff draw takes its upper bound, so delays are exact."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_a_success_resets_the_backoff(source: FakeSource, sched: ManualScheduler, clock: ManualClock) -> None:
    provider = CredentialsProvider(source, clock=clock, scheduler=sched, rng=CeilingRandom())
    provider.get(NAME)
    policy = RefreshPolicy()

    def run_next_job() -> float:
        clock.set(only_job(sched))
        assert sched.run_due(clock.time()) == 1
        return only_job(sched) - clock.time()

    source.errors.extend(SecretFetchError("5xx", secret_name=NAME, retryable=True) for _ in range(4))
    delays = [run_next_job() for _ in range(4)]
    assert delays == [policy.backoff_base_seconds * 2.0**n for n in range(1, 5)]
    run_next_job()  # succeeds
    source.errors.append(SecretFetchError("5xx", secret_name=NAME, retryable=True))
    assert run_next_job() == policy.backoff_base_seconds * 2.0  # the first failure again, not the fifth
    provider.close()


class Interrupted(BaseException):
    """Not an Exception: what a job sees when its thread is torn down (like SystemExit)."""


def test_a_base_exception_in_the_background_job_keeps_the_chain(
    provider: CredentialsProvider, source: FakeSource, sched: ManualScheduler, clock: ManualClock
) -> None:
    cred = provider.get(NAME)
    source.errors.append(Interrupted())
    clock.set(only_job(sched))
    with pytest.raises(Interrupted):  # not swallowed ...
        sched.run_due(clock.time())
    assert clock.time() <= only_job(sched) <= clock.time() + 2.0  # ... and the chain goes on
    assert provider.get(NAME) is cred


@pytest.mark.parametrize("end", ["close", "forget"])
def test_a_background_refresh_failing_after_close_or_forget_schedules_nothing(
    provider: CredentialsProvider, source: FakeSource, sched: ManualScheduler, clock: ManualClock, end: str
) -> None:
    provider.get(NAME)
    clock.set(only_job(sched))
    source.errors.append(SecretFetchError("down", secret_name=NAME, retryable=True))
    source.hold()
    job = threading.Thread(target=sched.run_due, args=(clock.time(),))
    job.start()
    assert source.entered.wait(WAIT)  # the background refresh is in the source
    if end == "close":
        provider.close()
    else:
        provider.forget(NAME)
    source.release()
    join_all([job])
    assert sched.jobs() == {}  # the failure's backoff did not bring the job back


class UncancellableScheduler(ManualScheduler):
    """A scheduler that cannot cancel (a job already taken by a worker, a remote scheduler down)."""

    def cancel(self, job_id: str) -> None:
        raise RuntimeError("cannot cancel " + job_id)


def test_a_job_that_outlives_forget_fetches_nothing(
    source: FakeSource, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    sched = UncancellableScheduler()
    with CredentialsProvider(source, clock=clock, scheduler=sched) as provider:
        provider.get(NAME)
        with caplog.at_level(logging.WARNING, logger="common_plugin"):
            provider.forget(NAME)
        assert "could not cancel" in caplog.text
        clock.set(only_job(sched))
        assert sched.run_due(clock.time()) == 1  # the stale job runs ...
        assert source.calls[NAME] == 1  # ... and does nothing
        assert sched.jobs() == {} and provider.peek(NAME) is None


def test_malformed_secret_in_background_keeps_the_chain(
    provider: CredentialsProvider, source: FakeSource, sched: ManualScheduler, clock: ManualClock
) -> None:
    cred = provider.get(NAME)
    source.set_raw(NAME, "{broken")
    clock.set(only_job(sched))
    sched.run_due(clock.time())
    assert provider.get(NAME) is cred
    assert only_job(sched) <= clock.time() + 2.0


# -- listeners ---------------------------------------------------------------------------------


def test_listener_on_first_fetch_filter_and_unsubscribe(
    provider: CredentialsProvider, source: FakeSource
) -> None:
    everything: list[tuple[str, ManagedCredential | None, ManagedCredential]] = []
    only_other: list[str] = []
    unsubscribe = provider.add_listener(lambda n, o, c: everything.append((n, o, c)))
    provider.add_listener(lambda n, o, c: only_other.append(n), secret_name="other")
    first = provider.get(NAME)
    assert everything == [(NAME, None, first)]
    source.set("other", "LTAIotherkey0001")
    provider.get("other")
    assert only_other == ["other"]
    unsubscribe()
    unsubscribe()
    source.set(NAME, "LTAIsecondkey002", version="v2")
    provider.refresh(NAME)
    assert len(everything) == 2


def test_reentrant_listener_does_not_deadlock(provider: CredentialsProvider, source: FakeSource) -> None:
    seen: list[str] = []

    def listener(name: str, old: ManagedCredential | None, new: ManagedCredential) -> None:
        seen.append(provider.get(name).access_key_id)
        if len(seen) == 1:
            seen.append(provider.refresh(name).access_key_id)

    provider.add_listener(listener)
    worker = threading.Thread(target=provider.get, args=(NAME,))
    worker.start()
    worker.join(WAIT)
    assert not worker.is_alive(), "a listener calling get()/refresh() deadlocked"
    assert seen == ["LTAIfirstkey0001", "LTAIfirstkey0001"]


def test_raising_listener_is_logged_and_the_refresher_continues(
    provider: CredentialsProvider,
    source: FakeSource,
    sched: ManualScheduler,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    def bad(name: str, old: ManagedCredential | None, new: ManagedCredential) -> None:
        raise RuntimeError("listener bug")

    provider.add_listener(bad)
    provider.add_listener(lambda n, o, c: calls.append(c.access_key_id))
    with caplog.at_level(logging.WARNING, logger="common_plugin.provider"):
        provider.get(NAME)
        source.set(NAME, "LTAIsecondkey002", version="v2")
        clock.set(only_job(sched))
        assert sched.run_due(clock.time()) == 1
    assert calls == ["LTAIfirstkey0001", "LTAIsecondkey002"]
    assert provider.get(NAME).access_key_id == "LTAIsecondkey002"
    assert len(sched.jobs()) == 1
    assert [r.exc_info is not None for r in caplog.records if "listener" in r.getMessage()] == [True, True]


# -- lifecycle --------------------------------------------------------------------------------


def test_close_is_idempotent_and_later_calls_raise(
    provider: CredentialsProvider, sched: ManualScheduler
) -> None:
    cred = provider.get(NAME)
    assert sched.jobs()
    with provider:
        pass
    provider.close()
    assert provider.closed and not sched.jobs()
    with pytest.raises(ProviderClosedError):
        provider.get(NAME)
    with pytest.raises(ProviderClosedError):
        provider.refresh(NAME)
    with pytest.raises(ProviderClosedError):
        provider.refresh_rejected(NAME, cred)
    assert provider.peek(NAME) is None


def test_close_during_a_fetch_installs_nothing_and_schedules_nothing(
    provider: CredentialsProvider, source: FakeSource, sched: ManualScheduler
) -> None:
    source.hold()
    threads, results = start_threads(1, lambda: provider.get(NAME))
    assert source.entered.wait(WAIT)
    provider.close()
    source.release()
    join_all(threads)
    assert isinstance(results[0], ManagedCredential)
    assert provider.peek(NAME) is None and not sched.jobs()


def test_forget_during_a_fetch_installs_nothing_and_notifies_nobody(
    provider: CredentialsProvider, source: FakeSource, sched: ManualScheduler
) -> None:
    seen: list[object] = []
    provider.add_listener(lambda *change: seen.append(change))
    source.hold()
    threads, results = start_threads(1, lambda: provider.get(NAME))
    assert source.entered.wait(WAIT)
    provider.forget(NAME)
    source.release()
    join_all(threads)
    assert isinstance(results[0], ManagedCredential)  # the waiting caller still gets its answer
    assert provider.peek(NAME) is None and not sched.jobs()
    assert seen == []


def test_forget_drops_cache_and_job(
    provider: CredentialsProvider, source: FakeSource, sched: ManualScheduler
) -> None:
    provider.get(NAME)
    provider.forget(NAME)
    provider.forget(NAME)
    assert provider.peek(NAME) is None and not sched.jobs()
    provider.get(NAME)
    assert source.calls[NAME] == 2


def test_preload_attempts_all_and_raises_the_first_error(
    provider: CredentialsProvider, source: FakeSource, caplog: pytest.LogCaptureFixture
) -> None:
    source.set("b", "LTAIbbbbbbbb0002")
    with caplog.at_level(logging.WARNING, logger="common_plugin.provider"), pytest.raises(SecretFetchError):
        provider.preload(["missing1", NAME, "missing2", "b"])
    assert provider.cached_names() == [NAME, "b"]
    assert len([r for r in caplog.records if "preloading" in r.getMessage()]) == 2
    provider.preload([NAME, "b"])


def test_shared_scheduler_acquired_and_released(source: FakeSource) -> None:
    from common_plugin import scheduler as scheduler_module

    with CredentialsProvider(source) as a, CredentialsProvider(source) as b:
        assert scheduler_module._shared is not None and scheduler_module._shared_refs >= 2
        assert a.get(NAME).access_key_id == b.get(NAME).access_key_id
    assert scheduler_module._shared is None


def test_repr_names_no_secret(provider: CredentialsProvider) -> None:
    provider.get(NAME)
    assert "secret-for-" not in repr(provider) and NAME in repr(provider)


# -- fork -----------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "win32", reason="needs os.fork")
def test_fork_child_gets_fresh_locks_and_a_running_refresh_chain(source: FakeSource) -> None:
    policy = RefreshPolicy(default_interval_seconds=0.2, min_interval_seconds=0.0, jitter_fraction=0.0)
    provider = CredentialsProvider(source, policy=policy)
    try:
        provider.get(NAME)
        # A refresh is held in flight (its thread holds the fetch) at the moment of fork.
        source.hold()
        held = threading.Thread(target=provider.refresh, args=(NAME,))
        held.start()
        assert source.entered.wait(WAIT)
        status = run_in_child(
            lambda: _child_checks(provider, source), timeout=3 * WAIT, in_parent=source.release
        )
        held.join(WAIT)
        assert status == 0
    finally:
        provider.close()


def _child_checks(provider: CredentialsProvider, source: FakeSource) -> int:
    try:
        source.gate = None
        rotated = threading.Event()
        provider.add_listener(
            lambda n, o, c: rotated.set() if c.access_key_id == "LTAIchildkey0003" else None
        )
        if provider.get(NAME).access_key_id != "LTAIfirstkey0001":
            return 4
        source.set(NAME, "LTAIchildkey0003", version="v3")
        if not rotated.wait(WAIT):  # the background chain runs on the child's scheduler
            return 5
        probe = threading.Event()
        provider._scheduler.schedule("probe", time.time(), probe.set)
        if not probe.wait(WAIT):
            return 6
        provider.refresh(NAME)  # the fetch held in flight by the parent's thread does not block it
        return 0
    except BaseException:
        return 1


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "win32", reason="needs os.fork")
def test_a_forked_child_keeps_each_pending_refresh_at_its_time(
    source: FakeSource, sched: ManualScheduler, clock: ManualClock
) -> None:
    """The child re-schedules each chain on its own scheduler at the time it was due, not at once."""
    with CredentialsProvider(source, clock=clock, scheduler=sched, rng=random.Random(7)) as provider:
        provider.get(NAME)
        due = only_job(sched)
        assert due > clock.time()

        def child() -> int:
            restart = [t for t in threading.enumerate() if t.name == "managed-credentials-after-fork"]
            for thread in restart:
                thread.join(WAIT)
            return 0 if list(sched.jobs().values()) == [due] else 7

        assert run_in_child(child, timeout=3 * WAIT) == 0


class StaleFirstSource(FakeSource):
    """A fetch held in flight answers with the value it read when it started (an older version)."""

    def get_secret_value(self, secret_name: str) -> SecretValue:
        with self._lock:
            self.calls[secret_name] += 1
            value = self.values[secret_name]
            gate = self.gate
        self.entered.set()
        if self.on_enter is not None:
            self.on_enter()
        if gate is not None:
            assert gate.wait(WAIT)
        return value


def test_a_rejection_that_joins_an_older_fetch_fetches_again(
    sched: ManualScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    from common_plugin._secret_state import Flight

    waiting = threading.Event()
    original_wait = Flight.wait

    def observed_wait(flight: Flight) -> ManagedCredential:
        if threading.current_thread().name == "joiner":
            waiting.set()  # the rejecting thread is now waiting on a fetch already in flight
        return original_wait(flight)

    monkeypatch.setattr(Flight, "wait", observed_wait)
    source = StaleFirstSource()
    source.set(NAME, "LTAIfirstkey0001")
    provider = CredentialsProvider(source, scheduler=sched)
    old = provider.get(NAME)
    source.hold()
    proactive = threading.Thread(target=provider.refresh, args=(NAME,))  # started before the rotation
    proactive.start()
    assert source.entered.wait(WAIT)
    source.set(NAME, "LTAIsecondkey002", version="v2")  # the rotation; the held fetch still has v1
    result: list[ManagedCredential | None] = []
    joiner = threading.Thread(
        target=lambda: result.append(provider.refresh_rejected(NAME, old)), name="joiner"
    )
    joiner.start()
    assert waiting.wait(WAIT)
    source.release()
    proactive.join(WAIT)
    joiner.join(WAIT)
    assert result and result[0] is not None and result[0].access_key_id == "LTAIsecondkey002"
    assert source.calls[NAME] == 3  # first load, the older proactive fetch, one reactive fetch
    provider.close()

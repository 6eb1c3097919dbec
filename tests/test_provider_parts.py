"""CredentialsProvider as a facade over named parts: how they are wired, not what each one does
(``test_provider.py`` covers the behaviour through the public methods)."""

from __future__ import annotations

import gc
import json
import threading
import weakref
from collections.abc import Iterator

import pytest

from common_plugin.clock import ManualClock
from common_plugin.credentials import SecretValue
from common_plugin.provider import CredentialsProvider
from common_plugin.scheduler import ManualScheduler
from common_plugin.sources.base import SecretSource

NAME = "app-ak"
START = 1_800_000_000.0


class CountingSource(SecretSource):
    """One RAM credential per secret name; counts fetches. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.fetches = 0
        self.data = {"AccessKeyId": "LTAIpartstest0001", "AccessKeySecret": "parts-test-secret-one"}

    def get_secret_value(self, secret_name: str) -> SecretValue:
        with self._lock:
            self.fetches += 1
            data = json.dumps(self.data)
        return SecretValue(secret_name=secret_name, secret_data=data, secret_type="RAMCredentials")


@pytest.fixture
def gc_off() -> Iterator[None]:
    """Reference counting only: an object freed now was in no reference cycle."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def test_a_provider_dropped_without_close_is_freed_and_its_jobs_do_nothing(gc_off: None) -> None:
    source = CountingSource()
    sched = ManualScheduler()
    clock = ManualClock(START)
    provider = CredentialsProvider(source, clock=clock, scheduler=sched)
    provider.get(NAME)
    assert len(sched.jobs()) == 1  # the refresh chain scheduled the next refresh
    dropped = weakref.ref(provider)
    del provider
    assert dropped() is None  # no part (cache, chain, gate, listeners, jobs) holds the facade
    sched.run_due(START + 10 * 86400.0)
    assert source.fetches == 1


def test_a_background_preload_is_one_job_that_close_cancels() -> None:
    source = CountingSource()
    sched = ManualScheduler()
    with CredentialsProvider(source, clock=ManualClock(START), scheduler=sched) as provider:
        provider.preload([NAME, "other"], background=True)
        assert source.fetches == 0 and len(sched.jobs()) == 1
        assert sched.run_due(START) >= 1
        assert source.fetches == 2 and provider.cached_names() == [NAME, "other"]
        provider.preload(["third"], background=True)
    assert sched.jobs() == {}  # close() cancelled the pending preload and the refresh jobs
    assert source.fetches == 2


@pytest.mark.parametrize(
    "change",
    [
        {"AccessKeyId": "LTAIpartstest0002", "AccessKeySecret": "parts-test-secret-two"},
        {"AccessKeySecret": "parts-test-secret-two"},
        {"SecurityToken": "parts-test-token-two"},
    ],
    ids=["new-id", "new-secret-same-id", "new-token-same-id"],
)
def test_rotations_are_counted_by_whole_key_in_telemetry_and_for_listeners(change: dict[str, str]) -> None:
    from common_plugin.observability import CredentialEvent, EventKind

    source = CountingSource()
    source.data["SecurityToken"] = "parts-test-token-one"
    with CredentialsProvider(source, clock=ManualClock(START), scheduler=ManualScheduler()) as provider:
        events: list[CredentialEvent] = []
        seen: list[tuple[object, object]] = []
        provider.add_event_listener(events.append)
        provider.add_listener(lambda _name, old, new: seen.append((old, new)))
        first = provider.get(NAME)
        provider.refresh(NAME)  # the very same key: no rotation for anyone
        source.data.update(change)
        second = provider.refresh(NAME)
        provider.refresh(NAME)
    assert seen == [(None, first), (first, second)]
    assert [e.kind for e in events].count(EventKind.ROTATION_PICKED_UP) == 1
    assert provider.status().counters["rotations"] == 1

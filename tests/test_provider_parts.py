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

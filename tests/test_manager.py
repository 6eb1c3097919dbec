from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common_plugin import manager as manager_module
from common_plugin.credentials import SecretValue
from common_plugin.exceptions import ConfigError, ManagedCredentialsError, ProviderClosedError
from common_plugin.manager import ProviderManager, default_manager, set_default_provider_factory
from common_plugin.provider import CredentialsProvider
from common_plugin.scheduler import ManualScheduler
from common_plugin.sources.base import SecretSource

WAIT = 30.0  # seconds; a safety net against a hang, never reached when the code works


class StaticSource(SecretSource):
    def __init__(self) -> None:
        self.closed = False

    def get_secret_value(self, secret_name: str) -> SecretValue:
        data = '{"AccessKeyId": "LTAIstatickey001", "AccessKeySecret": "static-secret"}'
        return SecretValue(secret_name=secret_name, secret_data=data, secret_type="RAMCredentials")

    def close(self) -> None:
        self.closed = True


class Factory:
    def __init__(self) -> None:
        self.created: list[CredentialsProvider] = []
        self.fail_next = False

    def __call__(self) -> CredentialsProvider:
        if self.fail_next:
            self.fail_next = False
            raise ManagedCredentialsError("bad configuration")
        provider = CredentialsProvider(StaticSource(), scheduler=ManualScheduler(), owns_source=True)
        self.created.append(provider)
        return provider


@pytest.fixture
def factory() -> Factory:
    return Factory()


@pytest.fixture
def manager(factory: Factory) -> ProviderManager:
    return ProviderManager(factory)


def test_leases_share_one_provider_and_the_last_release_closes_it(
    manager: ProviderManager, factory: Factory
) -> None:
    a = manager.lease()
    b = manager.lease()
    assert a.provider is b.provider
    assert len(factory.created) == 1 and manager.reference_count == 2
    a.release()
    assert not b.provider.closed
    assert b.provider.get("s").access_key_id == "LTAIstatickey001"
    a.release()  # a double release is harmless
    assert manager.reference_count == 1 and not b.provider.closed
    first = b.provider
    b.release()
    assert first.closed and manager.peek() is None
    assert first._source.closed  # type: ignore[attr-defined]
    with pytest.raises(ProviderClosedError):
        b.provider  # noqa: B018 - the property raises after release
    with manager.lease() as c:
        assert c.provider is not first and not c.provider.closed
        assert len(factory.created) == 2
    assert c.released and factory.created[1].closed


def test_acquire_release_and_stale_release(manager: ProviderManager) -> None:
    p = manager.acquire()
    manager.release(p)
    assert p.closed
    manager.release(p)  # a provider that is no longer current: ignored
    q = manager.acquire()
    manager.release(p)
    assert not q.closed and manager.reference_count == 1
    manager.release(q)


def test_failing_factory_leaves_nothing_behind(manager: ProviderManager, factory: Factory) -> None:
    factory.fail_next = True
    with pytest.raises(ManagedCredentialsError):
        manager.lease()
    assert manager.peek() is None and manager.reference_count == 0
    lease = manager.lease()
    assert not lease.provider.closed
    lease.release()


def test_a_provider_closed_behind_the_managers_back_is_replaced(manager: ProviderManager) -> None:
    lease = manager.lease()
    lease.provider.close()
    other = manager.lease()
    assert not other.provider.closed
    lease.release()  # releases a stale provider: ignored
    assert not other.provider.closed
    other.release()


def test_concurrent_first_leases_create_one_provider(manager: ProviderManager, factory: Factory) -> None:
    barrier = threading.Barrier(16)
    leases: list[object] = []

    def worker() -> None:
        barrier.wait(WAIT)
        leases.append(manager.lease())

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert len(factory.created) == 1 and manager.reference_count == 16
    for lease in leases:
        lease.release()  # type: ignore[attr-defined]
    assert factory.created[0].closed


@pytest.fixture
def restore_default() -> Iterator[None]:
    saved = manager_module._DEFAULT_MANAGER._factory
    yield
    manager_module._DEFAULT_MANAGER.set_factory(saved)


@pytest.mark.usefixtures("restore_default")
def test_default_manager_reads_the_config_then_uses_a_set_factory(
    factory: Factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert default_manager() is default_manager()
    monkeypatch.chdir(tmp_path)  # no managed_credentials_providers.properties here
    with pytest.raises(ConfigError, match="managed_credentials_providers.properties"):
        default_manager().lease()
    set_default_provider_factory(factory)
    with default_manager().lease() as lease:
        assert lease.provider is factory.created[0]
    assert default_manager().peek() is None


class GatedSource(StaticSource):
    """Holds each fetch open until ``gate`` is set; ``entered`` says a fetch is waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()

    def get_secret_value(self, secret_name: str) -> SecretValue:
        self.entered.set()
        self.gate.wait(WAIT)
        return super().get_secret_value(secret_name)


def test_a_factory_fetching_blocks_no_unrelated_release_or_lease() -> None:
    """A factory that fetches (here: preloads through a source held open) runs outside the
    manager's lock: a stale lease's release completes meanwhile, and a concurrent first lease waits
    for the build and shares its provider."""
    gated = GatedSource()
    built: list[CredentialsProvider] = []

    def factory() -> CredentialsProvider:
        source = gated if built else StaticSource()
        provider = CredentialsProvider(source, scheduler=ManualScheduler(), owns_source=True)
        built.append(provider)
        provider.preload(["s"])
        return provider

    manager = ProviderManager(factory)
    stale = manager.lease()
    stale.provider.close()  # closed behind the manager's back: the next lease builds a new one
    gated.entered.clear()
    leases: list[object] = []
    builder = threading.Thread(target=lambda: leases.append(manager.lease()))
    joiner = threading.Thread(target=lambda: leases.append(manager.lease()))
    released = threading.Event()
    releaser = threading.Thread(target=lambda: (stale.release(), released.set()))
    try:
        builder.start()
        assert gated.entered.wait(WAIT)  # the factory is inside its fetch
        joiner.start()
        releaser.start()
        assert released.wait(WAIT)  # not queued behind the fetch
        assert not gated.gate.is_set() and len(built) == 2
    finally:
        gated.gate.set()
    for thread in (builder, joiner, releaser):
        thread.join(WAIT)
        assert not thread.is_alive()
    assert len(built) == 2 and manager.reference_count == 2
    assert {lease.provider for lease in leases} == {built[1]}  # type: ignore[attr-defined]
    for lease in leases:
        lease.release()  # type: ignore[attr-defined]
    assert built[1].closed


def test_the_default_provider_preloads_after_the_lease_is_returned(
    local_aliyun: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_default_manager: ProviderManager
) -> None:
    """Building the default provider touches no network: the configured secret_names are fetched
    by a job on the provider's scheduler, after the first lease has been handed out."""
    from common_plugin import provider as provider_module

    local_aliyun.create_ram_secret("app-key")
    properties = tmp_path / "managed_credentials_providers.properties"
    local_aliyun.write_properties(properties, secret_names=["app-key"])
    monkeypatch.chdir(tmp_path)
    scheduler = ManualScheduler()
    monkeypatch.setattr(provider_module, "acquire_shared_scheduler", lambda: scheduler)
    monkeypatch.setattr(provider_module, "release_shared_scheduler", lambda _scheduler: None)
    with fresh_default_manager.lease() as lease:
        assert local_aliyun.count("dkms", "GetSecretValue") == 0
        assert lease.provider.peek("app-key") is None
        assert scheduler.run_due(time.time()) == 1  # the background preload
        assert local_aliyun.count("dkms", "GetSecretValue") == 1
        assert lease.provider.peek("app-key") is not None
    assert scheduler.jobs() == {}  # closing the provider cancelled its refresh job

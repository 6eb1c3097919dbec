"""Test-wide setup: keep the SDKs' loopback traffic off any proxy and away from ambient credentials.

AcsClient sends 127.0.0.1 traffic through HTTP(S)_PROXY even when NO_PROXY is set, ALIYUN_ACCESS_KEY_ID/
SECRET override AcsClient's own credentials, and CA-bundle variables change what TLS trusts, so all
are cleared for every test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from common_plugin.testing.environment import AMBIENT_VARIABLES

if TYPE_CHECKING:
    from common_plugin.provider import CredentialsProvider

pytest_plugins = ["secret_hygiene"]
# Runs in its own virtual environment with the pinned DKMS SDK (make test-dkms-reference).
collect_ignore = ["dkms_reference"]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AMBIENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def make_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., CredentialsProvider]]:
    """``make_provider(cloud, mode="dkms", scheduler=None, clock=None)``: a provider built from the
    emulator's properties through the real config loader and sources; closed after the test.
    With no scheduler a ``ManualScheduler`` is used, so no background thread runs."""
    from common_plugin.bootstrap import provider_from_config
    from common_plugin.config import load_config
    from common_plugin.scheduler import ManualScheduler

    made: list[CredentialsProvider] = []

    def factory(
        cloud: Any, mode: str = "dkms", scheduler: Any = None, clock: Any = None, **extra: str
    ) -> CredentialsProvider:
        path = cloud.write_properties(
            tmp_path_factory.mktemp("props") / "p.properties", mode=mode, extra=extra
        )
        config = load_config(path)
        provider = provider_from_config(
            config, scheduler=scheduler or ManualScheduler(), clock=clock or cloud.clock, preload=False
        )
        made.append(provider)
        return provider

    yield factory
    for provider in made:
        provider.close()


@pytest.fixture
def fresh_default_manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh process-wide default provider manager for the test; whatever it still holds at the
    end is closed, so a failing test cannot leak a default provider into later ones."""
    from common_plugin import manager

    fresh = manager.ProviderManager(manager._configured_factory)
    monkeypatch.setattr(manager, "_DEFAULT_MANAGER", fresh)
    yield fresh
    leftover = fresh.peek()
    if leftover is not None:
        leftover.close()

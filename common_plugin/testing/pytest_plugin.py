"""pytest fixtures for the local Alibaba Cloud emulator (registered through the ``pytest11`` entry point).

Fixtures:
    ``local_aliyun``: a running :class:`~.emulator.LocalAliyun` on the system clock, per test.
    ``local_aliyun_factory``: ``factory(**kwargs) -> LocalAliyun`` (e.g. ``clock=ManualClock()``,
        ``tls=False``); every emulator it started is stopped after the test.
    ``managed_credentials_properties``: DKMS-mode properties for ``local_aliyun`` in ``tmp_path``.

The TLS certificate is generated once per process, so starting an emulator takes milliseconds.
The emulator modules are imported lazily so that merely loading this plugin stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .emulator import LocalAliyun

__all__ = ["local_aliyun", "local_aliyun_factory", "managed_credentials_properties"]


@pytest.fixture
def local_aliyun_factory() -> Iterator[Callable[..., LocalAliyun]]:
    """Start emulators with custom arguments; all are stopped at teardown."""
    from .emulator import LocalAliyun

    started: list[LocalAliyun] = []

    def factory(**kwargs: Any) -> LocalAliyun:
        cloud = LocalAliyun(**kwargs).start()
        started.append(cloud)
        return cloud

    yield factory
    for cloud in reversed(started):
        cloud.stop()


@pytest.fixture
def local_aliyun(local_aliyun_factory: Callable[..., LocalAliyun]) -> LocalAliyun:
    """A running emulator on the system clock."""
    return local_aliyun_factory()


@pytest.fixture
def managed_credentials_properties(local_aliyun: LocalAliyun, tmp_path: Path) -> Path:
    """``managed_credentials_providers.properties`` in DKMS mode, written into ``tmp_path``."""
    from .emulator import PROPERTIES_FILE_NAME

    return local_aliyun.write_properties(tmp_path / PROPERTIES_FILE_NAME)

"""The reference environment: the real alibabacloud-dkms-gcs 1.0.2 and dkms-transfer next to our code.

These tests run in ``.venv-dkms-reference`` (``make test-dkms-reference``), never in the main
environment: dkms-gcs pins ``pyOpenSSL<23.3`` and so ``cryptography<42``, and ``protobuf<4``. The
checkout is on ``PYTHONPATH``; ``tests/`` is put on ``sys.path`` for :mod:`wire_capture`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))

from common_plugin.testing.environment import AMBIENT_VARIABLES  # noqa: E402

pytest_plugins = ["common_plugin.testing.pytest_plugin"]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The Tea client sends loopback traffic through HTTP(S)_PROXY; CA variables change trust.
    for name in AMBIENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)

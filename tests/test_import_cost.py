"""What importing the plugins loads: the SDK's own modules plus ours, nothing else.

Structural, not timed (benchmarks/bench_import.py measures the time): each check runs in a fresh
interpreter and compares ``sys.modules``. The scheduler loads apscheduler with the first provider,
asyncio comes only with the asyncio layer, configuration parsing only with a configuration.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

OURS = ("common_plugin", "sdk_core_plugin", "oss_plugin")


def loaded(code: str) -> set[str]:
    """The modules loaded after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    command = [sys.executable, "-c", probe]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)  # noqa: S603 - our interpreter
    return set(json.loads(out.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    ("plugin", "sdk"), [("sdk_core_plugin", "aliyunsdkcore.client"), ("oss_plugin", "oss2")]
)
def test_a_plugin_adds_only_its_own_modules_to_the_sdks(plugin: str, sdk: str) -> None:
    extra = loaded(f"import {plugin}") - loaded(f"import {sdk}")
    foreign = sorted(name for name in extra if name.split(".")[0] not in OURS)
    assert foreign == [], f"import {plugin} loads, beyond what import {sdk} does: {foreign}"
    # The provider machinery (and with it the scheduler) loads with the first provider, the
    # configuration with the first configuration, the asyncio layer only when asked for.
    for absent in (
        "common_plugin.provider",
        "common_plugin.scheduler",
        "common_plugin.config",
        "common_plugin.storage.disk_cache",
        "common_plugin.sources.dkms",
        "common_plugin.adapters.aio",
    ):
        assert absent not in extra, absent


def test_apscheduler_comes_with_the_first_background_scheduler() -> None:
    assert "apscheduler" not in loaded("import common_plugin.provider")
    assert "apscheduler" in loaded(
        "from common_plugin.scheduler import BackgroundScheduler\nBackgroundScheduler().shutdown()"
    )


def test_asyncio_comes_only_with_the_asyncio_layer() -> None:
    for module in ("common_plugin", "common_plugin.provider", "common_plugin.retry", "common_plugin.manager"):
        assert "asyncio" not in loaded(f"import {module}"), module
    assert "asyncio" in loaded("import common_plugin.adapters.aio")


def test_the_package_reexports_resolve_lazily() -> None:
    modules = loaded("import common_plugin\nassert common_plugin.load_config")
    assert "common_plugin.config.loading" in modules
    assert "common_plugin.config.loading" not in loaded("import common_plugin")

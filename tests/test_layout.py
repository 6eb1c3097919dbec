"""The package layout: deprecated module paths keep working, and configuration imports only what the
user wrote in the properties file."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from common_plugin.config import load_config
from common_plugin.exceptions import ConfigError
from common_plugin.testing import LocalAliyun

MOVED = {
    "common_plugin.tea": "common_plugin.adapters.tea",
    "common_plugin.aio": "common_plugin.adapters.aio",
    "common_plugin.config_loader": "common_plugin.config.config_loader",
    "common_plugin.cache_keys": "common_plugin.storage.cache_keys",
    "common_plugin.disk_cache": "common_plugin.storage.disk_cache",
}


@pytest.mark.parametrize("old, new", sorted(MOVED.items()))
def test_a_moved_module_is_still_importable_with_a_warning(old: str, new: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        shim = importlib.import_module(old)
    target = importlib.import_module(new)
    assert shim.__all__ == target.__all__
    assert all(getattr(shim, name) is getattr(target, name) for name in target.__all__)


def test_the_old_serve_module_offers_server_and_command() -> None:
    sys.modules.pop("common_plugin.serve", None)
    with pytest.warns(DeprecationWarning, match="adapters.endpoint"):
        shim = importlib.import_module("common_plugin.serve")
    from common_plugin.adapters.endpoint import CredentialsServer
    from common_plugin.cli.serve import run_serve

    assert shim.CredentialsServer is CredentialsServer and shim.run_serve is run_serve


@pytest.fixture
def marker_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A module on sys.path that writes a marker file when it is imported."""
    marker = tmp_path / "imported"
    (tmp_path / "decryptor_marker_mod.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('yes')\nclass Thing:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "decryptor_marker_mod", raising=False)
    return marker


def _cache_properties(cloud: LocalAliyun, tmp_path: Path, **extra: str) -> Path:
    return cloud.write_properties(
        tmp_path / "p.properties", extra={"cache_dir": str(tmp_path / "cache"), **extra}
    )


def test_a_decryptor_named_in_the_environment_is_never_imported(
    local_aliyun: LocalAliyun, tmp_path: Path, marker_module: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CACHE_KEY_DECRYPTOR", "decryptor_marker_mod.Thing")
    with pytest.raises(ConfigError) as info:
        load_config(_cache_properties(local_aliyun, tmp_path))
    assert info.value.key == "cache_key_decryptor"
    assert "properties file" in str(info.value)
    assert not marker_module.exists()


@pytest.mark.parametrize("value", ["decryptor_marker_mod", "decryptor_marker_mod.Thing()", "../x.Y", "a..B"])
def test_a_decryptor_path_of_the_wrong_form_is_refused_before_any_import(
    local_aliyun: LocalAliyun, tmp_path: Path, marker_module: Path, value: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_cache_properties(local_aliyun, tmp_path, cache_key_decryptor=value))
    assert info.value.key == "cache_key_decryptor" and "class path" in str(info.value)
    assert not marker_module.exists()


def test_a_class_that_is_no_decryptor_is_refused_at_load(
    local_aliyun: LocalAliyun, tmp_path: Path, marker_module: Path
) -> None:
    with pytest.raises(ConfigError) as info:
        path = _cache_properties(local_aliyun, tmp_path, cache_key_decryptor="decryptor_marker_mod:Thing")
        load_config(path)
    assert info.value.key == "cache_key_decryptor" and "CacheKeyDecryptor" in str(info.value)
    assert marker_module.exists()  # written in the file, so it was imported to be checked

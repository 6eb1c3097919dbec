"""The samples in ``samples/`` run against the emulator and do what their docstrings say.

Each sample's ``main`` is called in-process against ``local_aliyun`` (samples/ is not a package, so
each file is loaded by path); some also run stand-alone, as a user would run them, and those that
revoke a key must show a different key afterwards.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from common_plugin import ConfigLoader, mask_access_key_id
from common_plugin import manager as manager_module
from common_plugin.testing import LocalAliyun

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SECRET = "demo-app-key"
MINE = (
    "dkms_client_key_config",
    "gateway_ak_config",
    "gateway_ram_role_config",
    "kms_instance_ram_config",
    "proxy_acs_client_call",
    "proxy_bucket_upload_download",
    "custom_expire_handler",
    "rotation_listener",
    "log_service_client",
    "maxcompute_client",
)
UNMASKED_KEY_ID = re.compile(r"LTAI[0-9A-Za-z]{8,}")


def load_sample(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"sample_{name}", SAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dkms_fetches(cloud: LocalAliyun) -> int:
    return cloud.count("dkms", "GetSecretValue")


def assert_only_masked_ids(text: str) -> None:
    assert UNMASKED_KEY_ID.search(text) is None, "a sample printed an unmasked AccessKeyId"


@pytest.fixture
def cloud(local_aliyun: LocalAliyun) -> LocalAliyun:
    local_aliyun.create_ram_secret(SECRET)
    return local_aliyun


@pytest.fixture
def default_manager(
    fresh_default_manager: manager_module.ProviderManager,
) -> Iterator[manager_module.ProviderManager]:
    """conftest's fresh default provider manager, and the default config name restored after."""
    yield fresh_default_manager
    ConfigLoader.reset_config_name()


@pytest.mark.parametrize("name", MINE)
def test_sample_is_a_short_runnable_document(name: str) -> None:
    text = (SAMPLES / f"{name}.py").read_text(encoding="utf-8")
    tree = ast.parse(text)
    docstring = ast.get_docstring(tree)
    assert docstring and f".venv/bin/python samples/{name}.py" in docstring
    assert 'if __name__ == "__main__":' in text
    assert any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body)
    assert len(text.splitlines()) <= 80


def test_dkms_client_key_config(cloud: LocalAliyun, capsys: pytest.CaptureFixture[str]) -> None:
    properties = cloud.write_properties(mode="dkms", secret_names=[SECRET])
    credential = load_sample("dkms_client_key_config").main(properties)
    key = cloud.current_key(SECRET)
    assert credential.access_key_id == key.access_key_id
    assert dkms_fetches(cloud) == 1  # preloaded once; the get is served from the cache
    out = capsys.readouterr().out
    assert mask_access_key_id(key.access_key_id) in out and f"DKMS instance {cloud.dkms_endpoint} " in out
    assert_only_masked_ids(out)


def test_gateway_ak_config(cloud: LocalAliyun, capsys: pytest.CaptureFixture[str]) -> None:
    properties = cloud.write_properties(mode="gateway", credentials_type="ak", secret_names=[SECRET])
    credential = load_sample("gateway_ak_config").main(properties)
    assert credential.access_key_id == cloud.current_key(SECRET).access_key_id
    gateway_key = cloud.gateway_access_key
    assert gateway_key is not None
    assert cloud.count("kms", "GetSecretValue", gateway_key.access_key_id) == cloud.count("kms") == 1
    assert dkms_fetches(cloud) == 0
    out = capsys.readouterr().out
    assert "type='ak'" in out
    assert_only_masked_ids(out)


def test_gateway_ram_role_config(cloud: LocalAliyun, capsys: pytest.CaptureFixture[str]) -> None:
    properties = cloud.write_properties(
        mode="gateway",
        credentials_type="ram_role",
        secret_names=[SECRET],
        extra={"sts_endpoint": cloud.sts_url, "allow_insecure_http": "true"},
    )
    credential = load_sample("gateway_ram_role_config").main(properties)
    assert credential.access_key_id == cloud.current_key(SECRET).access_key_id
    gateway_key = cloud.gateway_access_key
    assert gateway_key is not None
    assert cloud.count("sts", "AssumeRole", gateway_key.access_key_id) == 1
    # the secret was read with the role's temporary key, not with the configured AccessKey
    assert cloud.count("kms", "GetSecretValue") == 1
    assert cloud.count("kms", "GetSecretValue", gateway_key.access_key_id) == 0
    out = capsys.readouterr().out
    assert cloud.role_arn in out and cloud.sts_url in out
    assert_only_masked_ids(out)


def test_kms_instance_ram_config(cloud: LocalAliyun, capsys: pytest.CaptureFixture[str]) -> None:
    properties = cloud.write_properties(mode="instance", credentials_type="ak", secret_names=[SECRET])
    credential = load_sample("kms_instance_ram_config").main(properties)
    assert credential.access_key_id == cloud.current_key(SECRET).access_key_id
    gateway_key = cloud.gateway_access_key
    assert gateway_key is not None
    assert cloud.count("kms_instance", "GetSecretValue", gateway_key.access_key_id) == 1
    assert dkms_fetches(cloud) == 0 and cloud.count("kms") == 0
    out = capsys.readouterr().out
    assert f"KMS instance {cloud.kms_instance_endpoint} " in out and "type='ak'" in out
    assert_only_masked_ids(out)


def test_proxy_acs_client_call(
    cloud: LocalAliyun,
    default_manager: manager_module.ProviderManager,
    capsys: pytest.CaptureFixture[str],
) -> None:
    properties = cloud.write_properties(secret_names=[SECRET])
    response = load_sample("proxy_acs_client_call").main(
        properties, domain=cloud.rpc_endpoint, protocol="http"
    )
    key = cloud.current_key(SECRET)
    assert response["Arn"].startswith("acs:ram::")
    assert cloud.count("rpc", "GetCallerIdentity", key.access_key_id) == cloud.count("rpc") == 1
    assert dkms_fetches(cloud) == 1
    assert default_manager.peek() is None  # the client's shutdown released the default provider
    out = capsys.readouterr().out
    assert mask_access_key_id(key.access_key_id) in out
    assert_only_masked_ids(out)


def test_proxy_bucket_upload_download(
    cloud: LocalAliyun,
    default_manager: manager_module.ProviderManager,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sample = load_sample("proxy_bucket_upload_download")
    cloud.create_bucket(sample.BUCKET_NAME)
    properties = cloud.write_properties(secret_names=[SECRET])
    data = sample.main(properties, endpoint=str(cloud.oss_endpoint))
    key = cloud.current_key(SECRET)
    assert data == b"hello from a managed key"
    assert cloud.count("oss", "UploadPart") == 3  # 300 KB in 100 KB parts
    assert cloud.count("oss", access_key_id=key.access_key_id) == cloud.count("oss") > 0
    assert dkms_fetches(cloud) == 1
    assert default_manager.peek() is None
    out = capsys.readouterr().out
    assert "307200 bytes" in out
    assert_only_masked_ids(out)


def test_custom_expire_handler(
    cloud: LocalAliyun,
    default_manager: manager_module.ProviderManager,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sample = load_sample("custom_expire_handler")
    rotations = 0

    def rotate() -> None:
        nonlocal rotations
        rotations += 1
        cloud.rotate(SECRET)  # revoked at once

    properties = cloud.write_properties(secret_names=[SECRET])
    handler = sample.main(properties, domain=cloud.rpc_endpoint, protocol="http", rotate=rotate)
    # The class judged the one rejection its client saw; the function judged the other two (each
    # call through it succeeded, so it must have said True and the client retried).
    assert handler.judged == ["InvalidAccessKeyId.NotFound"]
    assert rotations == 4
    assert dkms_fetches(cloud) == 4  # first load + one refresh per rejected key
    assert cloud.count("rpc", "GetCallerIdentity") == 7  # 4 calls + 3 retries
    assert default_manager.peek() is None
    assert sample.is_key_rejected(RuntimeError("no code")) is False
    out = capsys.readouterr().out
    assert out.count("acs:ram::") == 4
    assert_only_masked_ids(out)


def test_rotation_listener(cloud: LocalAliyun, capsys: pytest.CaptureFixture[str]) -> None:
    before = cloud.current_key(SECRET).access_key_id
    properties = cloud.write_properties(secret_names=[SECRET])
    changes, events = load_sample("rotation_listener").main(
        properties, rotate=lambda: cloud.rotate(SECRET, grace_seconds=60)
    )
    after = cloud.current_key(SECRET).access_key_id
    assert before != after
    old, new = mask_access_key_id(before), mask_access_key_id(after)
    assert changes == [(None, old), (old, new)]
    assert events["fetch_succeeded"] == 2 and events["rotation_picked_up"] == 1
    assert dkms_fetches(cloud) == 2
    out = capsys.readouterr().out
    assert f"{old} -> {new}" in out
    assert_only_masked_ids(out)


def test_log_service_client(
    local_aliyun: LocalAliyun,
    default_manager: manager_module.ProviderManager,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sample = load_sample("log_service_client")
    cloud = local_aliyun
    cloud.create_ram_secret(sample.SECRET_NAME)
    cloud.create_logstore("demo-project", "demo-logs")
    before = cloud.current_key(sample.SECRET_NAME).access_key_id
    found = sample.main(
        cloud.write_properties(secret_names=[sample.SECRET_NAME]),
        cloud.log_endpoint,
        "demo-project",
        "demo-logs",
        rotate=lambda: cloud.rotate(sample.SECRET_NAME),
        prepare=cloud.configure_log_client,
    )
    after = cloud.current_key(sample.SECRET_NAME).access_key_id
    assert found == ["before the rotation", "after the rotation"]
    assert cloud.count("log", "PutLogs", before) == 2  # the first call, and the rejected one
    assert cloud.count("log", "PutLogs", after) == 1  # its one retry
    assert dkms_fetches(cloud) == 2
    assert default_manager.peek() is None  # the client's shutdown released the default provider
    out = capsys.readouterr().out
    # The rotation is visible: each line names the key it was signed with.
    assert f"before the rotation: signed with {mask_access_key_id(before)}" in out
    assert f"after the rotation: signed with {mask_access_key_id(after)}" in out
    assert_only_masked_ids(out)


def test_maxcompute_client(
    local_aliyun: LocalAliyun,
    default_manager: manager_module.ProviderManager,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sample = load_sample("maxcompute_client")
    cloud = local_aliyun
    cloud.create_ram_secret(sample.SECRET_NAME)
    cloud.create_maxcompute_table("demo_project", "events")
    before = cloud.current_key(sample.SECRET_NAME).access_key_id
    names = sample.main(
        cloud.write_properties(secret_names=[sample.SECRET_NAME]),
        cloud.maxcompute_url,
        "demo_project",
        "events",
        rotate=lambda: cloud.rotate(sample.SECRET_NAME),
    )
    after = cloud.current_key(sample.SECRET_NAME).access_key_id
    assert names == ["events"]
    assert cloud.count("maxcompute", "ListTables", before) == 1  # rejected once
    assert cloud.count("maxcompute", "ListTables", after) == 1  # and retried once
    assert dkms_fetches(cloud) == 2
    assert default_manager.peek() is None  # the client's shutdown released the default provider
    out = capsys.readouterr().out
    assert f"events exists: True, signed with {mask_access_key_id(before)}" in out
    assert f"tables: ['events'], signed with {mask_access_key_id(after)}" in out
    assert_only_masked_ids(out)


def test_a_sample_runs_stand_alone(tmp_path: Path) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if name.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
        and not name.startswith(("ALIYUN_", "ALIBABA_CLOUD_"))
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter and sample
        [sys.executable, str(SAMPLES / "proxy_acs_client_call.py")],
        cwd=tmp_path,  # no properties file here: the sample writes its own
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"signed with LTAI\*{4}[0-9A-Z]{4}", result.stdout)
    assert "caller: acs:ram::" in result.stdout
    assert_only_masked_ids(result.stdout + result.stderr)


ROTATION_MARK = "-- the key was rotated and the old one revoked"
MASKED_ID = re.compile(r"LTAI\*{4}[0-9A-Za-z]{4}")


@pytest.mark.parametrize("name", ["asyncio_provider", "tea_v2_client", "oss_v2_client"])
def test_a_stand_alone_sample_shows_the_rotation(name: str, tmp_path: Path) -> None:
    """Run as a user would: the lines printed after the revoke name a different key than before."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
        and not key.startswith(("ALIYUN_", "ALIBABA_CLOUD_"))
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter and sample
        [sys.executable, str(SAMPLES / f"{name}.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    before, _, after = result.stdout.partition(ROTATION_MARK + "\n")
    assert after, result.stdout
    old = set(MASKED_ID.findall(before))
    assert len(old) == 1, before
    last_line = after.splitlines()[-1]
    assert MASKED_ID.findall(last_line) and not old & set(MASKED_ID.findall(last_line)), after
    assert_only_masked_ids(result.stdout + result.stderr)

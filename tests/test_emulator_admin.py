"""The emulator's admin API, its lifecycle, properties files and public surface."""

from __future__ import annotations

import json
import stat
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import common_plugin.testing as testing
from common_plugin.testing import LocalAliyun


def _admin(
    cloud: LocalAliyun, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token is None:
        token = cloud.admin_token
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    url = cloud.admin_url + path  # always http://127.0.0.1:PORT/...
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback admin URL
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_admin_requires_the_bearer_token(local_aliyun: LocalAliyun) -> None:
    assert _admin(local_aliyun, "GET", "/secrets", token="")[0] == 401
    assert _admin(local_aliyun, "GET", "/secrets", token="wrong")[0] == 401
    status, body = _admin(local_aliyun, "POST", "/secrets", {"name": "x", "type": "generic", "data": "d"}, "")
    assert (status, body["Code"]) == (401, "Unauthorized")
    assert local_aliyun.state.get_secret("x") is None


def test_secret_lifecycle_never_exposes_secret_material(local_aliyun: LocalAliyun) -> None:
    status, created = _admin(
        local_aliyun, "POST", "/secrets", {"name": "app-ak", "type": "ram", "rotation_interval_seconds": 3600}
    )
    assert status == 200
    key = local_aliyun.current_key("app-ak")
    assert created["version_stages"] == ["ACSCurrent"]
    assert created["access_key_id"] == f"{key.access_key_id[:4]}****{key.access_key_id[-4:]}"

    status, rotated = _admin(local_aliyun, "POST", "/secrets/app-ak/rotate", {"grace_seconds": 60})
    assert status == 200 and rotated["version_id"] != created["version_id"]
    status, shown = _admin(local_aliyun, "GET", "/secrets/app-ak")
    assert [v["stages"] for v in shown["versions"]] == [["ACSPrevious"], ["ACSCurrent"]]

    text = json.dumps([created, rotated, shown])
    new_secret = local_aliyun.current_key("app-ak").access_key_secret
    for value in (key.access_key_id, key.access_key_secret, new_secret):
        assert value not in text
    assert "SecretData" not in text and "AccessKeySecret" not in text
    assert _admin(local_aliyun, "GET", "/secrets")[1] == {"secrets": ["app-ak"]}
    assert _admin(local_aliyun, "GET", "/secrets/nope")[0] == 404


def test_generic_secret_and_bad_input(local_aliyun: LocalAliyun) -> None:
    assert _admin(local_aliyun, "POST", "/secrets", {"name": "db", "type": "generic", "data": "pw"})[0] == 200
    assert local_aliyun.state.get_secret_value_fields("db")["SecretData"] == "pw"
    assert _admin(local_aliyun, "POST", "/secrets", {"type": "ram"})[0] == 400
    assert _admin(local_aliyun, "POST", "/secrets", {"name": "db", "type": "generic", "data": "x"})[0] == 400
    assert _admin(local_aliyun, "POST", "/secrets", {"name": "z", "type": "other"})[0] == 400
    assert _admin(local_aliyun, "DELETE", "/nowhere")[0] == 404


def test_keys_can_be_disabled_enabled_and_revoked(local_aliyun: LocalAliyun) -> None:
    local_aliyun.create_ram_secret("app-ak")
    key_id = local_aliyun.current_key("app-ak").access_key_id
    assert _admin(local_aliyun, "POST", f"/keys/{key_id}/disable")[0] == 200
    assert local_aliyun.current_key("app-ak").status == "Inactive"
    assert _admin(local_aliyun, "POST", f"/keys/{key_id}/enable")[0] == 200
    assert local_aliyun.current_key("app-ak").status == "Active"
    assert _admin(local_aliyun, "POST", f"/keys/{key_id}/revoke")[0] == 200
    assert local_aliyun.state.lookup_key(key_id) is None
    assert _admin(local_aliyun, "POST", f"/keys/{key_id}/disable")[0] == 404


def test_faults_and_counters(local_aliyun: LocalAliyun) -> None:
    fault = {"service": "kms", "kind": "status", "status": 503, "code": "X", "count": None}
    assert _admin(local_aliyun, "POST", "/faults", fault)[0] == 200
    assert local_aliyun.state.faults["kms"].take("GetSecretValue") is not None
    assert _admin(local_aliyun, "DELETE", "/faults/kms")[0] == 200
    assert local_aliyun.state.faults["kms"].take("GetSecretValue") is None
    assert _admin(local_aliyun, "POST", "/faults", {"service": "kms", "kind": "boom"})[0] == 400
    assert _admin(local_aliyun, "POST", "/faults", {"service": "nope", "kind": "reset"})[0] == 404

    local_aliyun.state.record("kms", "GetSecretValue", "LTAI1234567890ABCD")
    status, counters = _admin(local_aliyun, "GET", "/counters")
    assert {"service": "kms", "action": "GetSecretValue", "access_key_id": "LTAI****ABCD", "count": 1} in (
        counters["counters"]
    )
    assert local_aliyun.count("admin") == 5  # the admin API counts its own calls too
    assert _admin(local_aliyun, "DELETE", "/counters")[0] == 200
    assert local_aliyun.count("kms") == 0


def test_workdir_files_and_properties(local_aliyun: LocalAliyun) -> None:
    workdir = local_aliyun.workdir
    assert stat.S_IMODE(workdir.stat().st_mode) == 0o700
    assert local_aliyun.ca_file.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    key_file, password_file = local_aliyun.client_key_file, local_aliyun.client_key_password_file
    assert key_file is not None and password_file is not None
    assert key_file.name == f"clientKey_{local_aliyun.client_key.key_id}.json"
    assert password_file.name == f"clientKey_{local_aliyun.client_key.key_id}_Password.txt"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 == stat.S_IMODE(password_file.stat().st_mode)

    path = local_aliyun.write_properties(secret_names=["a", "b"])
    assert path == workdir / "managed_credentials_providers.properties"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    props = dict(line.split("=", 1) for line in path.read_text().splitlines() if not line.startswith("#"))
    assert props["secret_names"] == "a,b"
    (entry,) = json.loads(props["cache_client_dkms_config_info"])
    assert entry == {
        "regionId": "cn-hangzhou",
        "endpoint": local_aliyun.dkms_endpoint,
        "clientKeyFile": str(key_file),
        "passwordFromFilePath": str(password_file),
        "ignoreSslCerts": False,
        "caFilePath": str(local_aliyun.ca_file),
    }
    assert "credentials_type" not in props

    gateway = local_aliyun.properties_text(mode="gateway", credentials_type="ram_role", extra={"x": "1"})
    props = dict(line.split("=", 1) for line in gateway.splitlines() if not line.startswith("#"))
    key = local_aliyun.gateway_access_key
    assert key is not None
    assert props["credentials_type"] == "ram_role"
    assert props["credentials_access_key_id"] == key.access_key_id
    assert props["credentials_access_secret"] == key.access_key_secret
    assert props["credentials_role_arn"] == local_aliyun.role_arn
    assert json.loads(props["cache_client_region_id"]) == [
        {"regionId": "cn-hangzhou", "endpoint": local_aliyun.kms_endpoint}
    ]
    assert props["kms_ca_file_path"] == str(local_aliyun.ca_file)
    assert props["x"] == "1"
    with pytest.raises(ValueError):
        local_aliyun.properties_text(mode="other")


def test_managed_credentials_properties_fixture(managed_credentials_properties: Path, tmp_path: Path) -> None:
    assert managed_credentials_properties.parent == tmp_path
    assert "cache_client_dkms_config_info=" in managed_credentials_properties.read_text()


def test_repr_and_stop(local_aliyun: LocalAliyun) -> None:
    key = local_aliyun.gateway_access_key
    assert key is not None
    text = repr(local_aliyun) + repr(key) + repr(local_aliyun.admin)
    assert key.access_key_secret not in text and local_aliyun.admin_token not in text
    assert local_aliyun.kms_url.startswith("https://127.0.0.1:")
    workdir = local_aliyun.workdir
    local_aliyun.stop()
    local_aliyun.stop()
    assert not workdir.exists()
    assert repr(local_aliyun) == "LocalAliyun(stopped)"
    with pytest.raises(RuntimeError):
        _ = local_aliyun.kms_endpoint


def test_given_workdir_is_kept(tmp_path: Path) -> None:
    with LocalAliyun(workdir=tmp_path / "cloud", tls=False) as cloud:
        assert cloud.kms_url.startswith("http://")
        assert cloud.kms_http_endpoint == cloud.kms_endpoint
        assert cloud.dkms_endpoint is not None
        entry = json.loads(cloud.properties_text().splitlines()[1].split("=", 1)[1])[0]
        assert entry["endpoint"] == f"http://{cloud.dkms_endpoint}"
    assert (tmp_path / "cloud" / "ca.pem").exists()


def test_public_surface() -> None:
    assert testing.__all__ == sorted(testing.__all__)
    for name in testing.__all__:
        assert getattr(testing, name) is not None

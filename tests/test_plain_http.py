"""Cleartext never without a word (issue 13, item 5).

A plain ``http://`` endpoint (KMS gateway, DKMS, ``sts_endpoint``) is refused unless
``allow_insecure_http=true``; with it, and with ``ignoreSslCerts=true``, the sources warn through
:mod:`warnings` (``InsecureTransportWarning``), which an application that configured no logging
still sees, and log it too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from common_plugin import InsecureTransportWarning
from common_plugin.config import load_config
from common_plugin.credentials import ManagedCredential
from common_plugin.exceptions import ConfigError
from common_plugin.sources import GatewaySource
from common_plugin.sources.factory import build_source
from common_plugin.testing import LocalAliyun

SECRET = "app-key"


@pytest.fixture
def cloud(local_aliyun: LocalAliyun) -> LocalAliyun:
    local_aliyun.create_ram_secret(SECRET)
    return local_aliyun


def _gateway_over_http(cloud: LocalAliyun, tmp_path: Path, **extra: str) -> Path:
    """Gateway-mode properties (with kms_ca_file_path, as the emulator writes) on the HTTP listener."""
    region = json.dumps([{"regionId": cloud.region_id, "endpoint": cloud.kms_http_url}])
    return cloud.write_properties(
        tmp_path / "p.properties", mode="gateway", extra={"cache_client_region_id": region, **extra}
    )


def test_a_gateway_http_endpoint_is_refused_without_the_opt_in(cloud: LocalAliyun, tmp_path: Path) -> None:
    path = _gateway_over_http(cloud, tmp_path)
    assert "kms_ca_file_path=" in path.read_text()  # a CA file does not make http:// safe
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert info.value.key == "cache_client_region_id"
    assert "cache_client_region_id[0].endpoint" in message
    assert "https://" in message and "allow_insecure_http=true" in message
    assert cloud.kms_http_url not in message  # names the key, not the value


def test_with_the_opt_in_the_gateway_warns_and_works_over_http(
    cloud: LocalAliyun, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(_gateway_over_http(cloud, tmp_path, allow_insecure_http="true"))
    assert config.allow_insecure_http
    with caplog.at_level(logging.WARNING), pytest.warns(InsecureTransportWarning) as warned:
        source = build_source(config)
    (warning,) = [w for w in warned if "KMS gateway endpoint" in str(w.message)]
    assert cloud.kms_http_url in str(warning.message) and "allow_insecure_http=true" in str(warning.message)
    assert any("plain http://" in record.getMessage() for record in caplog.records)
    value = source.get_secret_value(SECRET)
    cred = ManagedCredential.from_secret_value(value, fetched_at=0)
    assert cred.access_key_id == cloud.current_key(SECRET).access_key_id
    source.close()


def test_the_warning_is_a_user_warning_an_app_can_escalate() -> None:
    assert issubclass(InsecureTransportWarning, UserWarning)


@pytest.mark.parametrize(
    "value, message", [("maybe", "must be true or false"), ("false", "allow_insecure_http")]
)
def test_the_opt_in_must_be_a_true_boolean(
    cloud: LocalAliyun, tmp_path: Path, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(_gateway_over_http(cloud, tmp_path, allow_insecure_http=value))


def test_an_http_sts_endpoint_is_refused_without_the_opt_in(cloud: LocalAliyun, tmp_path: Path) -> None:
    path = cloud.write_properties(
        tmp_path / "p.properties",
        mode="gateway",
        credentials_type="ram_role",
        extra={"sts_endpoint": cloud.sts_url},
    )
    with pytest.raises(ConfigError, match="sts_endpoint: a plain http:// endpoint") as info:
        load_config(path)
    assert info.value.key == "sts_endpoint"


def _dkms_entry(cloud: LocalAliyun, **fields: Any) -> str:
    entry = {
        "regionId": cloud.region_id,
        "endpoint": cloud.dkms_endpoint,
        "clientKeyFile": str(cloud.client_key_file),
        "passwordFromFilePath": str(cloud.client_key_password_file),
        "caFilePath": str(cloud.ca_file),
        **fields,
    }
    return json.dumps([entry])


def test_a_dkms_http_endpoint_is_refused_without_the_opt_in_and_warned_with_it(
    local_aliyun_factory: Callable[..., LocalAliyun], tmp_path: Path
) -> None:
    cloud = local_aliyun_factory(tls=False)
    mapping = {"cache_client_dkms_config_info": _dkms_entry(cloud, endpoint=f"http://{cloud.dkms_endpoint}")}
    with pytest.raises(ConfigError, match=r"cache_client_dkms_config_info\[0\]\.endpoint: a plain http://"):
        load_config(mapping)
    config = load_config({**mapping, "allow_insecure_http": "true"})
    with pytest.warns(InsecureTransportWarning, match="DKMS endpoint .* is plain http://"):
        build_source(config).close()


def test_ignore_ssl_certs_is_warned_through_warnings(cloud: LocalAliyun) -> None:
    config = load_config({"cache_client_dkms_config_info": _dkms_entry(cloud, ignoreSslCerts=True)})
    with pytest.warns(InsecureTransportWarning, match=r"not verified \(ignoreSslCerts=true\)"):
        build_source(config).close()


def test_the_gateway_source_itself_refuses_http_without_the_flag(cloud: LocalAliyun) -> None:
    from aliyunsdkcore.auth.credentials import AccessKeyCredential

    key = cloud.gateway_access_key
    assert key is not None
    credential = AccessKeyCredential(key.access_key_id, key.access_key_secret)
    with pytest.raises(ConfigError, match="allow_insecure_http=true") as info:
        GatewaySource(region_id=cloud.region_id, endpoint=cloud.kms_http_url, credential=credential)
    assert info.value.key == "allow_insecure_http"
    with pytest.warns(InsecureTransportWarning):
        GatewaySource(
            region_id=cloud.region_id,
            endpoint=cloud.kms_http_url,
            credential=credential,
            allow_insecure_http=True,
        ).close()


def test_the_emulator_without_tls_writes_the_opt_in_and_its_gateway_mode_works(
    local_aliyun_factory: Callable[..., LocalAliyun], tmp_path: Path
) -> None:
    cloud = local_aliyun_factory(tls=False)
    cloud.create_ram_secret(SECRET)
    for mode in ("dkms", "gateway"):
        path = cloud.write_properties(tmp_path / f"{mode}.properties", mode=mode)
        assert "allow_insecure_http=true" in path.read_text()
        with pytest.warns(InsecureTransportWarning):
            source = build_source(load_config(path))
        assert source.get_secret_value(SECRET).secret_name == SECRET
        source.close()
    assert cloud.count("kms", "GetSecretValue") == cloud.count("dkms", "GetSecretValue") == 1

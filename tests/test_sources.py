"""Secret sources through the emulator: our DKMS client (client key), the KMS gateway (the real
AcsClient) and a KMS instance reached with RAM credentials (the Tea OpenAPI client).

Tests that hold for every kind of source are parametrized over ``KINDS``."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from forking import run_in_child

from common_plugin import ManagedCredential, SecretFetchError
from common_plugin.config import load_config
from common_plugin.sources.base import SecretSource
from common_plugin.sources.dkms import DkmsSource
from common_plugin.sources.factory import build_source
from common_plugin.sources.failover import FailoverSource
from common_plugin.sources.gateway import GatewaySource
from common_plugin.sources.kms_instance import KmsInstanceSource
from common_plugin.sources.ram_credentials import credentials_provider
from common_plugin.testing import THROTTLING, Fault, LocalAliyun

KINDS = ("dkms", "gateway", "instance")
SERVICE = {"dkms": "dkms", "gateway": "kms", "instance": "kms_instance"}
SOURCE_TYPE: dict[str, type] = {"dkms": DkmsSource, "gateway": GatewaySource, "instance": KmsInstanceSource}


def _first(source: object) -> object:
    assert isinstance(source, FailoverSource)
    return source.sources[0]


def _source_of(
    cloud: LocalAliyun,
    tmp_path: Path,
    kind: str,
    *,
    credentials_type: str | None = None,
    extra: dict[str, str] | None = None,
    trust: bool = True,
) -> SecretSource:
    """The one source of ``kind`` built from the emulator's properties through the config loader;
    with ``trust=False`` the properties name no CA (``caFilePath``, ``kms_ca_file_path``)."""
    path = cloud.write_properties(
        tmp_path / f"{kind}.properties", mode=kind, credentials_type=credentials_type, extra=extra
    )
    if not trust:
        text = re.sub(r',"caFilePath":"[^"]*"', "", path.read_text())
        path.write_text("\n".join(line for line in text.splitlines() if not line.startswith("kms_ca_file")))
    source = _first(build_source(load_config(path)))
    assert isinstance(source, SOURCE_TYPE[kind])
    return source


@pytest.mark.parametrize("kind", KINDS)
def test_each_source_fetches_the_current_key_and_then_the_rotated_one(
    local_aliyun: LocalAliyun, tmp_path: Path, kind: str
) -> None:
    secret = local_aliyun.create_ram_secret("app-key", rotation_interval_seconds=3600)
    source = _source_of(local_aliyun, tmp_path, kind)
    value = source.get_secret_value("app-key")
    cred = ManagedCredential.from_secret_value(value, fetched_at=0)
    assert cred.access_key_id == local_aliyun.current_key("app-key").access_key_id
    assert value.version_id == secret.current.version_id and value.version_stages == ("ACSCurrent",)
    assert cred.rotation_interval_seconds == 3600 and "RamUserAccessKey" in value.extended_config
    assert local_aliyun.count(SERVICE[kind], "GetSecretValue") == 1
    local_aliyun.rotate("app-key")
    rotated = ManagedCredential.from_secret_value(source.get_secret_value("app-key"), fetched_at=0)
    assert rotated.access_key_id == local_aliyun.current_key("app-key").access_key_id != cred.access_key_id
    assert local_aliyun.count(SERVICE[kind], "GetSecretValue") == 2


FAULTS = [
    (Fault("status", 503, "ServiceUnavailable"), "ServiceUnavailable"),
    (THROTTLING, "Rejected.Throttling"),
    (Fault("reset"), None),
    (Fault("garbage"), None),
    (Fault("truncate"), None),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("fault", "code"), FAULTS, ids=["5xx", "throttling", "reset", "garbage", "truncate"]
)
def test_each_source_maps_a_failed_answer_to_a_retryable_error(
    local_aliyun: LocalAliyun, tmp_path: Path, kind: str, fault: Fault, code: str | None
) -> None:
    local_aliyun.create_ram_secret("app-key")
    source = _source_of(local_aliyun, tmp_path, kind)
    local_aliyun.inject_fault(SERVICE[kind], fault, count=1)
    with pytest.raises(SecretFetchError) as info:
        source.get_secret_value("app-key")
    assert info.value.retryable and info.value.secret_name == "app-key"
    assert info.value.throttled == (fault is THROTTLING)
    if code is not None:
        assert info.value.code == code
    assert "app-key" in str(info.value) and source.describe() in str(info.value)
    assert source.get_secret_value("app-key").secret_name == "app-key"  # the next request is fine


@pytest.mark.parametrize("kind", KINDS)
def test_each_source_reports_a_missing_secret_as_final(
    local_aliyun: LocalAliyun, tmp_path: Path, kind: str
) -> None:
    source = _source_of(local_aliyun, tmp_path, kind)
    with pytest.raises(SecretFetchError) as info:
        source.get_secret_value("no-such-secret")
    assert info.value.code == "Forbidden.ResourceNotFound" and not info.value.retryable
    assert info.value.http_status in (None, 404) and "no-such-secret" in str(info.value)


@pytest.mark.parametrize("kind", KINDS)
def test_each_source_reports_its_rejected_credential_as_final(
    local_aliyun: LocalAliyun, tmp_path: Path, kind: str
) -> None:
    local_aliyun.create_ram_secret("app-key")
    source = _source_of(local_aliyun, tmp_path, kind)
    source.get_secret_value("app-key")
    if kind == "dkms":
        assert local_aliyun.dkms is not None
        local_aliyun.dkms.revoke_client_key(local_aliyun.client_key.key_id)
        expected = "Unauthorized"
    else:
        key = local_aliyun.gateway_access_key
        assert key is not None
        local_aliyun.revoke_key(key.access_key_id)
        expected = "InvalidAccessKeyId.NotFound"
    with pytest.raises(SecretFetchError) as info:
        source.get_secret_value("app-key")
    assert info.value.code == expected and not info.value.retryable


@pytest.mark.parametrize("primary", KINDS)
def test_failover_from_each_kind_takes_one_attempt(
    local_aliyun: LocalAliyun, tmp_path: Path, primary: str
) -> None:
    local_aliyun.create_ram_secret("app-key")
    secondary = "gateway" if primary != "gateway" else "instance"
    sources = [_source_of(local_aliyun, tmp_path, kind) for kind in (primary, secondary)]
    failover = FailoverSource(sources, max_attempts=4, sleep=lambda s: None)
    local_aliyun.inject_fault(SERVICE[primary], Fault("reset"), count=1)
    assert failover.get_secret_value("app-key").secret_name == "app-key"
    assert local_aliyun.count(SERVICE[primary]) == 1 and local_aliyun.count(SERVICE[secondary]) == 1
    assert failover.stats() == {"requests": 2, "request_failures": 1, "failovers": 1}


def test_dkms_source_fetches_ram_credential(local_aliyun: LocalAliyun, tmp_path: Path) -> None:
    secret = local_aliyun.create_ram_secret("app-key", rotation_interval_seconds=3600)
    config = load_config(local_aliyun.write_properties(tmp_path / "p.properties"))
    source = build_source(config)
    assert isinstance(_first(source), DkmsSource)
    value = source.get_secret_value("app-key")
    cred = ManagedCredential.from_secret_value(value, fetched_at=0)
    assert cred.access_key_id == local_aliyun.current_key("app-key").access_key_id
    assert value.version_id == secret.current.version_id
    assert value.version_stages == ("ACSCurrent",)
    assert cred.rotation_interval_seconds == 3600
    assert "RamUserAccessKey" in value.extended_config
    assert local_aliyun.count("dkms", "GetSecretValue") == 1


def test_gateway_source_with_ak_credentials(local_aliyun: LocalAliyun, tmp_path: Path) -> None:
    local_aliyun.create_ram_secret("app-key")
    config = load_config(local_aliyun.write_properties(tmp_path / "p.properties", mode="gateway"))
    source = build_source(config)
    assert isinstance(_first(source), GatewaySource)
    cred = ManagedCredential.from_secret_value(source.get_secret_value("app-key"), fetched_at=0)
    assert cred.access_key_id == local_aliyun.current_key("app-key").access_key_id
    gateway_key = local_aliyun.gateway_access_key
    assert gateway_key is not None
    assert local_aliyun.count("kms", "GetSecretValue", gateway_key.access_key_id) == 1


@pytest.mark.parametrize("credentials_type", ["ram_role", "sts"])
def test_gateway_source_with_ram_role(
    local_aliyun: LocalAliyun, tmp_path: Path, credentials_type: str
) -> None:
    local_aliyun.create_ram_secret("app-key")
    path = local_aliyun.write_properties(
        tmp_path / "p.properties",
        mode="gateway",
        credentials_type=credentials_type,
        extra={"sts_endpoint": local_aliyun.sts_url, "allow_insecure_http": "true"},
    )
    source = build_source(load_config(path))
    cred = ManagedCredential.from_secret_value(source.get_secret_value("app-key"), fetched_at=0)
    assert cred.access_key_id == local_aliyun.current_key("app-key").access_key_id
    assert local_aliyun.count("sts", "AssumeRole") == 1
    gateway_key = local_aliyun.gateway_access_key
    assert gateway_key is not None
    # the KMS call was signed with the assumed role's STS key, not the bootstrap key
    assert local_aliyun.count("kms", "GetSecretValue", gateway_key.access_key_id) == 0
    assert local_aliyun.count("kms", "GetSecretValue") == 1


def test_gateway_source_with_a_client_key(local_aliyun: LocalAliyun, tmp_path: Path) -> None:
    local_aliyun.create_ram_secret("app-key")
    path = local_aliyun.write_properties(
        tmp_path / "p.properties", mode="gateway", credentials_type="client_key"
    )
    source = build_source(load_config(path))
    cred = ManagedCredential.from_secret_value(source.get_secret_value("app-key"), fetched_at=0)
    assert cred.access_key_id == local_aliyun.current_key("app-key").access_key_id
    key_id = local_aliyun.client_key.key_id
    assert local_aliyun.count("kms", "GetSecretValue", key_id) == 1  # signed SHA256withRSA by the key
    assert local_aliyun.dkms is not None
    local_aliyun.dkms.revoke_client_key(key_id)
    with pytest.raises(SecretFetchError) as info:
        source.get_secret_value("app-key")
    assert info.value.code == "InvalidAccessKeyId.NotFound" and not info.value.retryable


@pytest.mark.parametrize("mode", ["dkms", "instance"])
def test_plain_http_emulator_instances(
    local_aliyun_factory: Callable[..., LocalAliyun],
    tmp_path: Path,
    mode: str,
) -> None:
    cloud = local_aliyun_factory(tls=False)
    cloud.create_ram_secret("app-key")
    source = build_source(load_config(cloud.write_properties(tmp_path / "p.properties", mode=mode)))
    assert source.get_secret_value("app-key").secret_name == "app-key"
    assert cloud.count(SERVICE[mode], "GetSecretValue") == 1


def test_dkms_tls_is_verified_without_the_ca(local_aliyun: LocalAliyun) -> None:
    local_aliyun.create_ram_secret("app-key")
    key = local_aliyun.client_key
    password = Path(str(local_aliyun.client_key_password_file)).read_text()
    source = DkmsSource(
        region_id="cn-hangzhou",
        endpoint=str(local_aliyun.dkms_endpoint),
        client_key_content=key.to_json(),
        password=password,
    )
    with pytest.raises(SecretFetchError) as info:
        source.get_secret_value("app-key")
    assert info.value.retryable and info.value.code == "SDK.HttpError"
    assert local_aliyun.count("dkms") == 0  # the TLS handshake failed before any request


def test_gateway_tls_is_verified_without_the_ca(local_aliyun: LocalAliyun) -> None:
    local_aliyun.create_ram_secret("app-key")
    from aliyunsdkcore.auth.credentials import AccessKeyCredential

    key = local_aliyun.gateway_access_key
    assert key is not None
    source = GatewaySource(
        region_id="cn-hangzhou",
        endpoint=local_aliyun.kms_endpoint,
        credential=AccessKeyCredential(key.access_key_id, key.access_key_secret),
    )
    with pytest.raises(SecretFetchError) as info:
        source.get_secret_value("app-key")
    assert info.value.retryable


def _two_sources(cloud: LocalAliyun, tmp_path: Path) -> FailoverSource:
    dkms = build_source(load_config(cloud.write_properties(tmp_path / "d.properties")))
    gateway = build_source(load_config(cloud.write_properties(tmp_path / "g.properties", mode="gateway")))
    assert isinstance(dkms, FailoverSource) and isinstance(gateway, FailoverSource)
    return FailoverSource([*dkms.sources, *gateway.sources], max_attempts=4, sleep=lambda s: None)


@pytest.mark.parametrize(
    "fault",
    [
        Fault("status", 503, "ServiceUnavailable"),
        THROTTLING,
        Fault("reset"),
        Fault("garbage"),
        Fault("truncate"),
    ],
    ids=["5xx", "throttling", "reset", "garbage", "truncate"],
)
def test_failover_takes_one_attempt(local_aliyun: LocalAliyun, tmp_path: Path, fault: Fault) -> None:
    local_aliyun.create_ram_secret("app-key")
    source = _two_sources(local_aliyun, tmp_path)
    local_aliyun.inject_fault("dkms", fault, count=1)
    value = source.get_secret_value("app-key")
    assert value.secret_name == "app-key"
    assert local_aliyun.count("dkms") == 1
    assert local_aliyun.count("kms", "GetSecretValue") == 1


def test_throttling_storm_is_bounded_with_backoff(local_aliyun: LocalAliyun, tmp_path: Path) -> None:
    local_aliyun.create_ram_secret("app-key")
    sleeps: list[float] = []
    base = _two_sources(local_aliyun, tmp_path)
    source = FailoverSource(base.sources, max_attempts=6, sleep=sleeps.append, backoff_max_seconds=2.0)
    local_aliyun.inject_fault("dkms", THROTTLING, count=None)
    local_aliyun.inject_fault("kms", THROTTLING, count=None)
    with pytest.raises(SecretFetchError) as info:
        source.get_secret_value("app-key")
    assert info.value.throttled and info.value.retryable
    assert local_aliyun.count("dkms") + local_aliyun.count("kms") == 6
    assert len(sleeps) == 2 and all(0 <= s <= 2.0 for s in sleeps)


def test_missing_secret_is_not_retried(local_aliyun: LocalAliyun, tmp_path: Path) -> None:
    source = _two_sources(local_aliyun, tmp_path)
    with pytest.raises(SecretFetchError) as info:
        source.get_secret_value("no-such-secret")
    assert info.value.code == "Forbidden.ResourceNotFound" and not info.value.retryable
    assert "no-such-secret" in str(info.value)
    assert local_aliyun.count("dkms") == 1 and local_aliyun.count("kms") == 0


def test_revoked_client_key_is_reported(local_aliyun: LocalAliyun, tmp_path: Path) -> None:
    local_aliyun.create_ram_secret("app-key")
    source = build_source(load_config(local_aliyun.write_properties(tmp_path / "p.properties")))
    assert local_aliyun.dkms is not None
    local_aliyun.dkms.revoke_client_key(local_aliyun.client_key.key_id)
    with pytest.raises(SecretFetchError) as info:
        source.get_secret_value("app-key")
    assert info.value.code == "Unauthorized" and not info.value.retryable


def test_no_sdk_logging_path_prints_secret_data(
    local_aliyun: LocalAliyun,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("DEBUG", "sdk")  # alibabacloud-tea dumps HTTP exchanges (headers only)
    local_aliyun.create_ram_secret("app-key")
    source = _two_sources(local_aliyun, tmp_path)
    caplog.set_level(logging.DEBUG)
    local_aliyun.inject_fault("kms", Fault("truncate"), count=1)
    source.get_secret_value("app-key")  # DKMS: full exchange under DEBUG=sdk
    FailoverSource(source.sources[1:], max_attempts=2, sleep=lambda s: None).get_secret_value("app-key")
    key = local_aliyun.current_key("app-key")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert key.access_key_secret not in text
    assert local_aliyun.count("kms") == 2  # the truncated reply was seen, then a good one


def test_dkms_network_failures_are_named_plainly(local_aliyun: LocalAliyun, tmp_path: Path) -> None:
    local_aliyun.create_ram_secret("app-key")
    key = local_aliyun.client_key
    password = Path(str(local_aliyun.client_key_password_file)).read_text()
    untrusted = DkmsSource(
        region_id="cn-hangzhou",
        endpoint=str(local_aliyun.dkms_endpoint),
        client_key_content=key.to_json(),
        password=password,
    )
    with pytest.raises(SecretFetchError) as info:
        untrusted.get_secret_value("app-key")
    assert (
        f"certificate verify failed for {local_aliyun.dkms_endpoint}; set caFilePath or "
        "ALIBABA_CLOUD_CA_BUNDLE" in str(info.value)
    )
    assert "unreachable" not in str(info.value)
    closed = DkmsSource(
        region_id="cn-hangzhou",
        endpoint="127.0.0.1:9",
        client_key_content=key.to_json(),
        password=password,
        ca_file_path=str(local_aliyun.ca_file),
    )
    with pytest.raises(SecretFetchError, match=r"\(connection refused\)"):
        closed.get_secret_value("app-key")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("mode", ["dkms", "gateway", "instance"])
def test_a_forked_child_does_not_share_pooled_connections(
    local_aliyun: LocalAliyun, tmp_path: Path, mode: str
) -> None:
    """Parent and child reading from one kept-alive socket would each see failures (or each other's
    replies); after fork the sources start new connection pools."""
    local_aliyun.create_ram_secret("app-key")
    source = build_source(load_config(local_aliyun.write_properties(tmp_path / "p.properties", mode=mode)))
    assert isinstance(source, FailoverSource)
    single = FailoverSource(source.sources, max_attempts=1)
    single.get_secret_value("app-key")  # a pooled, kept-alive connection now exists

    def failures() -> int:
        failed = 0
        for _ in range(30):
            try:
                single.get_secret_value("app-key")
            except SecretFetchError:
                failed += 1
        return failed

    def child() -> int:
        single.after_fork()  # what a provider's fork hook calls on its source
        return min(failures(), 100)

    parent_failures: list[int] = []
    status = run_in_child(child, timeout=60, in_parent=lambda: parent_failures.append(failures()))
    assert status == 0 and parent_failures == [0]


def test_a_refused_assume_role_is_not_retried_and_names_the_keys(
    local_aliyun: LocalAliyun, tmp_path: Path
) -> None:
    local_aliyun.create_ram_secret("app-key")
    path = local_aliyun.write_properties(
        tmp_path / "p.properties",
        mode="gateway",
        credentials_type="ram_role",
        extra={"sts_endpoint": local_aliyun.sts_url, "allow_insecure_http": "true"},
    )
    key = local_aliyun.gateway_access_key
    assert key is not None
    path.write_text(path.read_text().replace(key.access_key_secret, "a-wrong-bootstrap-secret"))
    with pytest.raises(SecretFetchError) as info:
        build_source(load_config(path)).get_secret_value("app-key")
    assert not info.value.retryable and info.value.code == "SDK.GetSessionCredentialFailed"
    assert "credentials_access_secret" in str(info.value) and "a-wrong-bootstrap-secret" not in str(
        info.value
    )
    assert local_aliyun.count("sts", "AssumeRole") == 1 and local_aliyun.count("kms") == 0


class _MetadataService:
    """A loopback stand-in for the ECS instance metadata service (100.100.100.200), reached as an HTTP
    proxy: aliyunsdkcore (urllib) and alibabacloud_credentials (Tea) both honour ``http_proxy``, so no
    packet leaves 127.0.0.1. Answers the IMDSv2 token PUT and the role's credentials GET."""

    def __init__(self, role_key: Any) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.asked: list[str] = []
        service = self

        class Metadata(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
                service.asked.append("PUT " + self.path)
                self._answer(b"imds-session-token")

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                service.asked.append("GET " + self.path)
                body = {
                    "Code": "Success",
                    "AccessKeyId": role_key.access_key_id,
                    "AccessKeySecret": role_key.access_key_secret,
                    "SecurityToken": role_key.security_token,
                    "Expiration": "2099-01-01T00:00:00Z",
                    "LastUpdated": "2020-01-01T00:00:00Z",
                }
                self._answer(json.dumps(body).encode())

            def _answer(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Metadata)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def metadata_service(
    local_aliyun: LocalAliyun, monkeypatch: pytest.MonkeyPatch
) -> Iterator[_MetadataService]:
    """The metadata stand-in serving an STS key of the emulator, installed as ``http_proxy``."""
    import urllib.request

    service = _MetadataService(local_aliyun.state.create_access_key(with_sts_token=True))
    monkeypatch.setenv("http_proxy", service.proxy_url)
    # urllib reads the proxy settings once, into a process-wide opener built on first use.
    monkeypatch.setattr(urllib.request, "_opener", None)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    yield service
    service.close()


def _ecs_role_properties(cloud: LocalAliyun, tmp_path: Path, mode: str) -> Path:
    path = cloud.write_properties(tmp_path / "p.properties", mode=mode)
    text = "\n".join(line for line in path.read_text().splitlines() if not line.startswith("credentials_"))
    path.write_text(text + "\ncredentials_type=ecs_ram_role\ncredentials_role_name=EcsKmsReader\n")
    return path


@pytest.mark.parametrize(("mode", "service"), [("gateway", "kms"), ("instance", "kms_instance")])
def test_an_ecs_ram_role_signs_for_the_gateway_and_an_instance(
    local_aliyun: LocalAliyun, tmp_path: Path, metadata_service: _MetadataService, mode: str, service: str
) -> None:
    """ecs_ram_role asks the instance metadata service for an STS key and signs with it."""
    local_aliyun.create_ram_secret("app-key")
    source = build_source(load_config(_ecs_role_properties(local_aliyun, tmp_path, mode)))
    cred = ManagedCredential.from_secret_value(source.get_secret_value("app-key"), 0)
    assert cred.access_key_id == local_aliyun.current_key("app-key").access_key_id
    role_path = "/latest/meta-data/ram/security-credentials/EcsKmsReader"
    assert f"GET http://100.100.100.200{role_path}" in metadata_service.asked
    role_key_id = next(k for k in local_aliyun.state._keys.values() if k.security_token).access_key_id
    assert local_aliyun.count(service, "GetSecretValue", role_key_id) == 1  # signed with the role


@pytest.mark.parametrize("kind", KINDS)
def test_each_source_verifies_tls_and_refuses_an_untrusted_server(
    local_aliyun: LocalAliyun, tmp_path: Path, kind: str
) -> None:
    local_aliyun.create_ram_secret("app-key")
    untrusted = _source_of(local_aliyun, tmp_path, kind, trust=False)
    with pytest.raises(SecretFetchError) as info:
        untrusted.get_secret_value("app-key")
    assert info.value.retryable
    assert local_aliyun.count(SERVICE[kind]) == 0  # the TLS handshake failed before any request
    trusted = _source_of(local_aliyun, tmp_path, kind)
    assert trusted.get_secret_value("app-key").secret_name == "app-key"


def _instance_source(cloud: LocalAliyun, ca_file_path: str | None) -> KmsInstanceSource:
    key = cloud.gateway_access_key
    assert key is not None
    from common_plugin.config.gateway_credentials import GatewayCredentialsConfig

    credential = GatewayCredentialsConfig("ak", key.access_key_id, key.access_key_secret)
    return KmsInstanceSource(
        region_id=cloud.region_id,
        endpoint=cloud.kms_instance_endpoint,
        credentials_provider=credentials_provider(credential),
        ca_file_path=ca_file_path,
    )


def test_instance_tls_failure_names_the_host_and_both_fixes(local_aliyun: LocalAliyun) -> None:
    """The instance has a CA of its own: the CA that signs the gateway (and DKMS) is not enough."""
    local_aliyun.create_ram_secret("app-key")
    for ca in (None, str(local_aliyun.ca_file)):
        with pytest.raises(SecretFetchError) as info:
            _instance_source(local_aliyun, ca).get_secret_value("app-key")
        endpoint = local_aliyun.kms_instance_endpoint
        assert str(info.value).startswith(
            f"kms-instance {local_aliyun.region_id} {endpoint}: certificate verify failed for "
            f"{endpoint}; set caFilePath or ALIBABA_CLOUD_CA_BUNDLE"
        )
        assert info.value.code == "SDK.HttpError" and info.value.retryable
    assert local_aliyun.count("kms_instance") == 0
    assert _instance_source(local_aliyun, str(local_aliyun.instance_ca_file)).get_secret_value("app-key")


def test_instance_trusts_alibaba_cloud_ca_bundle_without_cafilepath(
    local_aliyun: LocalAliyun, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_aliyun.create_ram_secret("app-key")
    monkeypatch.setenv("ALIBABA_CLOUD_CA_BUNDLE", str(local_aliyun.instance_ca_file))
    source = _instance_source(local_aliyun, None)
    assert source.ca_file_path == str(local_aliyun.instance_ca_file)
    assert source.get_secret_value("app-key").secret_name == "app-key"
    # caFilePath wins over the variable
    assert _instance_source(local_aliyun, str(local_aliyun.ca_file)).ca_file_path == str(local_aliyun.ca_file)


def test_instance_network_failures_are_named_plainly(local_aliyun: LocalAliyun) -> None:
    key = local_aliyun.gateway_access_key
    assert key is not None
    from common_plugin.config.gateway_credentials import GatewayCredentialsConfig

    closed = KmsInstanceSource(
        region_id="cn-hangzhou",
        endpoint="127.0.0.1:9",
        credentials_provider=credentials_provider(
            GatewayCredentialsConfig("ak", key.access_key_id, key.access_key_secret)
        ),
        ca_file_path=str(local_aliyun.instance_ca_file),
    )
    with pytest.raises(SecretFetchError, match=r"\(connection refused\)") as info:
        closed.get_secret_value("app-key")
    assert info.value.retryable and info.value.code == "SDK.HttpError"


@pytest.mark.parametrize("credentials_type", ["ram_role", "sts"])
def test_instance_with_a_ram_role_assumes_it_once(
    local_aliyun: LocalAliyun, tmp_path: Path, credentials_type: str
) -> None:
    local_aliyun.create_ram_secret("app-key")
    source = _source_of(
        local_aliyun,
        tmp_path,
        "instance",
        credentials_type=credentials_type,
        extra={"sts_endpoint": local_aliyun.sts_url, "allow_insecure_http": "true"},
    )
    for _ in range(2):
        cred = ManagedCredential.from_secret_value(source.get_secret_value("app-key"), fetched_at=0)
        assert cred.access_key_id == local_aliyun.current_key("app-key").access_key_id
    gateway_key = local_aliyun.gateway_access_key
    assert gateway_key is not None
    assert local_aliyun.count("sts", "AssumeRole", gateway_key.access_key_id) == 1  # the STS key is cached
    # both calls were signed with the assumed role's STS key, not the bootstrap key
    assert local_aliyun.count("kms_instance", "GetSecretValue") == 2
    assert local_aliyun.count("kms_instance", "GetSecretValue", gateway_key.access_key_id) == 0


def test_instance_refused_assume_role_is_final_and_names_the_keys(
    local_aliyun: LocalAliyun, tmp_path: Path
) -> None:
    local_aliyun.create_ram_secret("app-key")
    path = local_aliyun.write_properties(
        tmp_path / "p.properties",
        mode="instance",
        credentials_type="ram_role",
        extra={"sts_endpoint": local_aliyun.sts_url, "allow_insecure_http": "true"},
    )
    key = local_aliyun.gateway_access_key
    assert key is not None
    path.write_text(path.read_text().replace(key.access_key_secret, "a-wrong-bootstrap-secret"))
    with pytest.raises(SecretFetchError) as info:
        build_source(load_config(path)).get_secret_value("app-key")
    assert not info.value.retryable and info.value.code == "SDK.GetSessionCredentialFailed"
    assert info.value.http_status == 400
    text = str(info.value)
    assert "credentials_access_secret" in text and "a-wrong-bootstrap-secret" not in text
    assert local_aliyun.count("sts", "AssumeRole") == 1 and local_aliyun.count("kms_instance") == 0


def test_client_key_and_ram_instances_in_one_list_fail_over_in_order(
    local_aliyun: LocalAliyun, tmp_path: Path
) -> None:
    """One cache_client_dkms_config_info: the client-key entry first, then the RAM-credential one."""
    local_aliyun.create_ram_secret("app-key")
    dkms_text = local_aliyun.properties_text(mode="dkms")
    instance_text = local_aliyun.properties_text(mode="instance", credentials_type="ak")
    prefix = "cache_client_dkms_config_info="

    def entries(text: str) -> list[object]:
        line = next(line for line in text.splitlines() if line.startswith(prefix))
        return list(json.loads(line[len(prefix) :]))

    lines = [line for line in instance_text.splitlines() if line.startswith("credentials_")]
    both = json.dumps(entries(dkms_text) + entries(instance_text))
    path = tmp_path / "p.properties"
    path.write_text("\n".join([prefix + both, *lines]) + "\n")
    source = build_source(load_config(path))
    assert isinstance(source, FailoverSource)
    assert [type(s) for s in source.sources] == [DkmsSource, KmsInstanceSource]
    local_aliyun.inject_fault("dkms", Fault("reset"), count=1)
    assert source.get_secret_value("app-key").secret_name == "app-key"
    assert local_aliyun.count("dkms") == 1 and local_aliyun.count("kms_instance") == 1


def test_instance_debug_logging_never_shows_the_sts_token(
    local_aliyun: LocalAliyun,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """darabonba's DEBUG=sdk dump lists request headers, x-acs-security-token among them."""
    monkeypatch.setenv("DEBUG", "sdk")
    local_aliyun.create_ram_secret("app-key")
    caplog.set_level(logging.DEBUG)
    source = _source_of(
        local_aliyun,
        tmp_path,
        "instance",
        credentials_type="ram_role",
        extra={"sts_endpoint": local_aliyun.sts_url, "allow_insecure_http": "true"},
    )
    source.get_secret_value("app-key")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "x-acs-security-token" in text  # the dump happened
    tokens = [k.security_token for k in local_aliyun.state._keys.values() if k.security_token]
    assert tokens and not any(token in text for token in tokens)
    assert local_aliyun.current_key("app-key").access_key_secret not in text


def test_instance_says_when_the_credential_not_the_instance_is_unreachable(
    local_aliyun: LocalAliyun, tmp_path: Path
) -> None:
    """An AssumeRole that cannot be sent is not reported as the instance being down."""
    local_aliyun.create_ram_secret("app-key")
    source = _source_of(
        local_aliyun,
        tmp_path,
        "instance",
        credentials_type="ram_role",
        extra={"sts_endpoint": "http://127.0.0.1:9", "allow_insecure_http": "true"},
    )
    with pytest.raises(SecretFetchError) as info:
        source.get_secret_value("app-key")
    assert info.value.code == "SDK.GetSessionCredentialFailed" and info.value.retryable
    assert "could not be obtained" in str(info.value) and "(connection refused)" in str(info.value)
    assert "sts_endpoint" in str(info.value)
    assert local_aliyun.count("kms_instance") == 0

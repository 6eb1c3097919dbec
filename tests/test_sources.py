"""Secret sources through the emulator with the real DKMS (dkms-gcs) and KMS gateway (AcsClient) clients."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from forking import run_in_child

from common_plugin import ManagedCredential, SecretFetchError
from common_plugin.config import load_config
from common_plugin.sources.dkms import DkmsSource
from common_plugin.sources.factory import build_source
from common_plugin.sources.failover import FailoverSource
from common_plugin.sources.gateway import GatewaySource
from common_plugin.testing import THROTTLING, Fault, LocalAliyun


def _first(source: object) -> object:
    assert isinstance(source, FailoverSource)
    return source.sources[0]


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


def test_plain_http_emulator_dkms(local_aliyun_factory: Callable[..., LocalAliyun], tmp_path: Path) -> None:
    cloud = local_aliyun_factory(tls=False)
    cloud.create_ram_secret("app-key")
    source = build_source(load_config(cloud.write_properties(tmp_path / "p.properties")))
    assert source.get_secret_value("app-key").secret_name == "app-key"


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
    with pytest.raises(SecretFetchError, match=r"\(TLS verification failed\)"):
        untrusted.get_secret_value("app-key")
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
@pytest.mark.parametrize("mode", ["dkms", "gateway"])
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


def test_gateway_source_with_an_ecs_ram_role(
    local_aliyun: LocalAliyun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ecs_ram_role asks the instance metadata service (100.100.100.200) for an STS key. aliyunsdkcore
    fetches it with urllib, which honours HTTP_PROXY, so a loopback stand-in answers as that
    service: no packet leaves 127.0.0.1."""
    import json
    import threading
    import urllib.request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    local_aliyun.create_ram_secret("app-key")
    role_key = local_aliyun.state.create_access_key(with_sts_token=True)
    asked: list[str] = []

    class Metadata(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            asked.append(self.path)
            body = json.dumps(
                {
                    "Code": "Success",
                    "AccessKeyId": role_key.access_key_id,
                    "AccessKeySecret": role_key.access_key_secret,
                    "SecurityToken": role_key.security_token,
                    "Expiration": "2099-01-01T00:00:00Z",
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Metadata)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{server.server_address[1]}")
        # urllib reads the proxy settings once, into a process-wide opener built on first use.
        monkeypatch.setattr(urllib.request, "_opener", None)
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        path = local_aliyun.write_properties(tmp_path / "p.properties", mode="gateway")
        text = path.read_text()
        text = "\n".join(line for line in text.splitlines() if not line.startswith("credentials_"))
        path.write_text(text + "\ncredentials_type=ecs_ram_role\ncredentials_role_name=EcsKmsReader\n")
        cred = ManagedCredential.from_secret_value(
            build_source(load_config(path)).get_secret_value("app-key"), 0
        )
    finally:
        server.shutdown()
        server.server_close()
    assert cred.access_key_id == local_aliyun.current_key("app-key").access_key_id
    assert asked == ["http://100.100.100.200/latest/meta-data/ram/security-credentials/EcsKmsReader"]
    assert local_aliyun.count("kms", "GetSecretValue", role_key.access_key_id) == 1  # signed with the role

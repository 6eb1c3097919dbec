"""The emulator's DKMS service against the real clients: dkms-gcs 1.0.2 and dkms-transfer 0.1.3.

Round trips over loopback HTTPS against ``LocalAliyun``: the real clients accept the emulator's
replies and errors, and the emulator refuses what a real instance refuses (a signature by another
key, a tampered request). Also the behaviour of the real client that the product's tests once
relied on: its retries, dkms-transfer's error mapping, and Tea's process-wide session cache.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import OpenSSL.crypto
import pytest
from alibabacloud_dkms_transfer.kms_transfer_acs_client import KmsTransferAcsClient
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkkms.request.v20160120.GetSecretValueRequest import GetSecretValueRequest as AcsGetSecret
from dkms_gcs import make_client
from golden import KEY_CONTENT, LEGACY_KEY_CONTENT, PASSWORD
from openapi.models import Config
from openapi_util.models import RuntimeOptions
from sdk.models import GetSecretValueRequest
from Tea.exceptions import TeaException

from common_plugin.testing import Fault, LocalAliyun
from common_plugin.testing import server as server_module
from common_plugin.testing.dkms import ClientKey
from common_plugin.testing.wire import HttpRequest, HttpResponse


def _password(cloud: LocalAliyun) -> str:
    assert cloud.client_key_password_file is not None
    return cloud.client_key_password_file.read_text()


def _client(cloud: LocalAliyun, key: ClientKey | None = None, *, trust_ca: bool = True) -> Any:
    key = key or cloud.client_key
    password = _password(cloud) if key is cloud.client_key else "p12-pass"
    return make_client(
        str(cloud.dkms_endpoint),
        key.to_json(),
        password,
        ca_file_path=str(cloud.ca_file) if trust_ca else None,
    )


ONE_ATTEMPT = RuntimeOptions(autoretry=False, max_attempts=0)


def test_dkms_gcs_reads_every_field_over_https(local_aliyun: LocalAliyun) -> None:
    secret = local_aliyun.create_ram_secret("app-ak", rotation_interval_seconds=86400)
    reply = _client(local_aliyun).get_secret_value(
        GetSecretValueRequest(secret_name="app-ak", version_stage="ACSCurrent", fetch_extended_config=True)
    )
    assert reply.secret_name == "app-ak"
    assert reply.secret_data == secret.current.secret_data
    assert reply.version_id == secret.current.version_id
    assert reply.version_stages == ["ACSCurrent"]
    assert (reply.secret_type, reply.automatic_rotation, reply.rotation_interval) == (
        "RAMCredentials",
        "Enabled",
        "86400s",
    )
    assert json.loads(reply.extended_config)["SecretSubType"] == "RamUserAccessKey"
    assert reply.request_id and reply.create_time
    assert local_aliyun.count("dkms", "GetSecretValue", local_aliyun.client_key.key_id) == 1


def test_dkms_gcs_asks_for_other_versions(local_aliyun: LocalAliyun) -> None:
    local_aliyun.create_ram_secret("app-ak")
    first = local_aliyun.state.get_secret("app-ak")
    assert first is not None
    old_data, old_id = first.current.secret_data, first.current.version_id
    local_aliyun.rotate("app-ak", grace_seconds=60)
    client = _client(local_aliyun)
    by_stage = client.get_secret_value(
        GetSecretValueRequest(secret_name="app-ak", version_stage="ACSPrevious")
    )
    by_id = client.get_secret_value(GetSecretValueRequest(secret_name="app-ak", version_id=old_id))
    for reply in (by_stage, by_id):
        assert (reply.secret_data, reply.version_stages, reply.extended_config) == (
            old_data,
            ["ACSPrevious"],
            "",
        )


@pytest.mark.parametrize(
    ("arrange", "code", "status"),
    [
        (lambda cloud: None, "Forbidden.ResourceNotFound", 404),
        (lambda cloud: cloud.dkms.revoke_client_key(cloud.client_key.key_id), "Unauthorized", 401),
        (
            lambda cloud: cloud.inject_fault("dkms", Fault("status", 500, "InternalFailure")),
            "InternalFailure",
            500,
        ),
    ],
    ids=["missing secret", "revoked key", "internal failure"],
)
def test_dkms_gcs_reads_the_emulators_errors(
    local_aliyun: LocalAliyun, arrange: Callable[[LocalAliyun], None], code: str, status: int
) -> None:
    client = _client(local_aliyun)
    arrange(local_aliyun)
    with pytest.raises(TeaException) as info:
        client.get_secret_value_with_options(GetSecretValueRequest(secret_name="nope"), ONE_ATTEMPT)
    assert (info.value.code, info.value.data["httpCode"]) == (code, status)
    assert info.value.data["requestId"]


def test_dkms_gcs_retries_the_emulators_throttling(local_aliyun: LocalAliyun) -> None:
    local_aliyun.create_generic_secret("plain", "hello")
    local_aliyun.inject_fault("dkms", Fault("status", status=400, code="Rejected.Throttling"), count=2)
    reply = _client(local_aliyun).get_secret_value_with_options(
        GetSecretValueRequest(secret_name="plain"), RuntimeOptions(backoff_policy="no")
    )
    assert reply.secret_data == "hello"
    assert local_aliyun.count("dkms", "GetSecretValue") == 3


def test_the_emulator_refuses_a_signature_by_another_key(local_aliyun: LocalAliyun) -> None:
    assert local_aliyun.dkms is not None
    local_aliyun.create_generic_secret("plain", "hello")
    other = local_aliyun.dkms.issue_client_key("p12-pass")
    forged = ClientKey(local_aliyun.client_key.key_id, other.private_key_data, other.public_key)
    with pytest.raises(TeaException) as info:
        _client(local_aliyun, forged).get_secret_value_with_options(
            GetSecretValueRequest(secret_name="plain"), ONE_ATTEMPT
        )
    assert (info.value.code, info.value.data["httpCode"]) == ("Unauthorized", 401)


def test_the_emulator_refuses_a_tampered_request_from_the_real_client(
    local_aliyun: LocalAliyun, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert local_aliyun.dkms is not None
    local_aliyun.create_generic_secret("public", "harmless")
    local_aliyun.create_generic_secret("private", "crown jewels")
    seen: list[HttpRequest] = []
    handle = local_aliyun.dkms.handle

    def capture(request: HttpRequest) -> HttpResponse:
        seen.append(dataclasses.replace(request, headers=dict(request.headers)))
        return handle(request)

    monkeypatch.setattr(local_aliyun.dkms, "handle", capture)
    assert _client(local_aliyun).get_secret_value(GetSecretValueRequest(secret_name="public")).secret_data
    (real,) = seen
    assert handle(real).status == 200  # replayed unchanged: still valid
    for tampered in (
        dataclasses.replace(real, body=real.body.replace(b"public", b"privat")),
        dataclasses.replace(real, headers={**real.headers, "x-kms-apiversion": "dkms-gcs-0.3"}),
        dataclasses.replace(real, headers={**real.headers, "date": "Mon, 23 Nov 2026 11:51:55 GMT"}),
        dataclasses.replace(real, headers={**real.headers, "x-kms-extra": "1"}),
    ):
        assert handle(tampered).status in (400, 401)


def test_issued_keys_open_in_dkms_gcs_only_with_their_password(local_aliyun: LocalAliyun) -> None:
    with pytest.raises(OpenSSL.crypto.Error):
        make_client(str(local_aliyun.dkms_endpoint), local_aliyun.client_key.to_json(), "wrong")


def test_the_legacy_fixture_key_signs_for_dkms_gcs_as_for_us() -> None:
    from common_plugin.sources.dkms_signing import DkmsClientKey

    for content in (KEY_CONTENT, LEGACY_KEY_CONTENT):
        client = make_client("example.com", content, PASSWORD)
        theirs = client._credential.get_signature("text")
        assert DkmsClientKey.from_json(content, PASSWORD).sign("text") == theirs


# ---- dkms-transfer's KmsTransferAcsClient ---------------------------------------------------------
def _transfer_client(cloud: LocalAliyun, key: ClientKey, password: str) -> KmsTransferAcsClient:
    config = Config(
        protocol="https",
        endpoint=cloud.dkms_endpoint,
        client_key_content=key.to_json(),
        password=password,
        ca_file_path=str(cloud.ca_file),
    )
    return KmsTransferAcsClient(config=config, ak="x", secret="x", verify=str(cloud.ca_file))


def test_dkms_transfer_returns_the_emulators_reply_as_json(local_aliyun: LocalAliyun) -> None:
    secret = local_aliyun.create_ram_secret("app-ak")
    request = AcsGetSecret()
    request.set_SecretName("app-ak")
    request.set_FetchExtendedConfig(True)
    request.set_accept_format("JSON")

    body = json.loads(
        _transfer_client(
            local_aliyun, local_aliyun.client_key, _password(local_aliyun)
        ).do_action_with_exception(request)
    )

    assert body["SecretData"] == secret.current.secret_data
    assert body["VersionStages"] == {"VersionStage": ["ACSCurrent"]}
    assert body["SecretType"] == "RAMCredentials"


def test_dkms_transfer_maps_the_emulators_errors(local_aliyun: LocalAliyun) -> None:
    assert local_aliyun.dkms is not None
    from common_plugin.testing.dkms import DkmsService

    stranger = DkmsService(local_aliyun.state).issue_client_key("p12-pass")  # another instance's key
    request = AcsGetSecret()
    request.set_SecretName("missing")
    for key, password, code, status in (
        (stranger, "p12-pass", "InvalidAccessKeyId.NotFound", 401),
        (local_aliyun.client_key, _password(local_aliyun), "Forbidden.ResourceNotFound", 404),
    ):
        with pytest.raises(ServerException) as info:
            _transfer_client(local_aliyun, key, password).do_action_with_exception(request)
        assert (info.value.get_error_code(), info.value.get_http_status()) == (code, status)


# ---- Tea's process-wide HTTPS session cache (why LocalAliyun.stop forgets it) -----------------------
def _tea_session_keys(endpoint: str) -> list[str]:
    from Tea.core import TeaCore

    return [key for key in TeaCore._sessions if f"//{endpoint}:" in key]


def test_stop_forgets_the_tea_sessions_of_its_endpoints(
    local_aliyun_factory: Callable[..., LocalAliyun], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = local_aliyun_factory()
    first.create_generic_secret("plain", "hello")
    endpoint = first.dkms_endpoint
    assert endpoint is not None
    assert _client(first).get_secret_value(GetSecretValueRequest(secret_name="plain")).secret_data == "hello"
    assert _tea_session_keys(endpoint), "the CA-trusting call should have cached a session"

    first.stop()
    assert _tea_session_keys(endpoint) == []

    # A new emulator whose DKMS listener reuses the port must not inherit the CA trust.
    port = int(endpoint.rsplit(":", 1)[1])
    bind = server_module._Server.server_bind

    def bind_dkms_to_the_old_port(self: Any) -> None:
        if self.owner.service.name == "dkms":
            self.server_address = ("127.0.0.1", port)
        bind(self)

    monkeypatch.setattr(server_module._Server, "server_bind", bind_dkms_to_the_old_port)
    try:
        second = local_aliyun_factory()
    except OSError as exc:  # someone else took the port meanwhile
        pytest.skip(f"port {port} could not be reused: {exc}")
    assert second.dkms_endpoint == endpoint
    second.create_generic_secret("plain", "hello")
    with pytest.raises(TeaException):  # the emulator's CA is not trusted: TLS fails
        _client(second, trust_ca=False).get_secret_value_with_options(
            GetSecretValueRequest(secret_name="plain"), ONE_ATTEMPT
        )
    assert second.count("dkms") == 0
    assert _client(second).get_secret_value(GetSecretValueRequest(secret_name="plain")).secret_data == "hello"

"""The emulated KMS gateway against the real ``AcsClient`` + ``aliyunsdkkms`` GetSecretValueRequest."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkkms.request.v20160120.GetSecretValueRequest import GetSecretValueRequest

from common_plugin.clock import ManualClock
from common_plugin.testing import LocalAliyun
from common_plugin.testing.state import AccessKey


def _client(cloud: LocalAliyun, key: AccessKey | None = None, **kwargs: Any) -> AcsClient:
    key = key or cloud.gateway_access_key
    assert key is not None
    kwargs.setdefault("verify", str(cloud.ca_file))
    if key.security_token:
        token = key.security_token
        kwargs["credential"] = StsTokenCredential(key.access_key_id, key.access_key_secret, token)
        client = AcsClient(region_id=cloud.region_id, **kwargs)
    else:
        client = AcsClient(key.access_key_id, key.access_key_secret, cloud.region_id, **kwargs)
    return cloud.configure_acs_client(client)


def _get(client: AcsClient, name: str, **params: Any) -> dict[str, Any]:
    request = GetSecretValueRequest()
    request.set_SecretName(name)
    for setter, value in params.items():
        getattr(request, "set_" + setter)(value)
    result: dict[str, Any] = json.loads(client.do_action_with_exception(request))
    return result


def _error(client: AcsClient, name: str = "app-ak") -> ServerException:
    with pytest.raises(ServerException) as info:
        _get(client, name)
    return info.value


@pytest.fixture
def manual_cloud(local_aliyun_factory: Callable[..., LocalAliyun]) -> LocalAliyun:
    return local_aliyun_factory(clock=ManualClock(1_800_000_000.0))


def test_get_secret_value_returns_every_field_over_https(local_aliyun: LocalAliyun) -> None:
    local_aliyun.create_ram_secret("app-ak", rotation_interval_seconds=86400)
    body = _get(_client(local_aliyun), "app-ak", FetchExtendedConfig=True)

    assert set(body) == {
        "SecretName", "SecretType", "SecretData", "SecretDataType", "VersionId", "VersionStages",
        "CreateTime", "LastRotationDate", "NextRotationDate", "ExtendedConfig", "AutomaticRotation",
        "RotationInterval", "RequestId",
    }  # fmt: skip
    assert body["SecretType"] == "RAMCredentials"
    assert body["VersionStages"] == {"VersionStage": ["ACSCurrent"]}
    assert body["RotationInterval"] == "86400s"
    assert body["AutomaticRotation"] == "Enabled"
    assert json.loads(body["ExtendedConfig"])["SecretSubType"] == "RamUserAccessKey"
    data = json.loads(body["SecretData"])
    assert data["AccessKeyId"] == local_aliyun.current_key("app-ak").access_key_id
    assert local_aliyun.count("kms", "GetSecretValue") == 1


def test_extended_config_only_when_asked(local_aliyun: LocalAliyun) -> None:
    local_aliyun.create_generic_secret("db", "hunter2")
    body = _get(_client(local_aliyun), "db")
    assert "ExtendedConfig" not in body
    assert body["SecretData"] == "hunter2"
    assert body["SecretType"] == "Generic"


def test_previous_version_by_stage(local_aliyun: LocalAliyun) -> None:
    local_aliyun.create_ram_secret("app-ak")
    old = local_aliyun.current_key("app-ak").access_key_id
    local_aliyun.rotate("app-ak", grace_seconds=600)
    body = _get(_client(local_aliyun), "app-ak", VersionStage="ACSPrevious")
    assert json.loads(body["SecretData"])["AccessKeyId"] == old
    assert body["VersionStages"] == {"VersionStage": ["ACSPrevious"]}


def test_default_verification_rejects_the_emulator_certificate(local_aliyun: LocalAliyun) -> None:
    local_aliyun.create_ram_secret("app-ak")
    key = local_aliyun.gateway_access_key
    assert key is not None
    client = AcsClient(key.access_key_id, key.access_key_secret, local_aliyun.region_id)
    local_aliyun.configure_acs_client(client)
    with pytest.raises(ClientException) as info:
        _get(client, "app-ak")
    assert info.value.get_error_code() == "SDK.HttpError"
    assert local_aliyun.count("kms") == 0


def test_plain_http_listener(local_aliyun: LocalAliyun) -> None:
    local_aliyun.create_generic_secret("db", "x")
    client = _client(local_aliyun, verify=False)
    client.add_endpoint(local_aliyun.region_id, "Kms", local_aliyun.kms_http_url)
    assert _get(client, "db")["SecretName"] == "db"


def test_missing_secret(local_aliyun: LocalAliyun) -> None:
    error = _error(_client(local_aliyun), "nope")
    assert (error.get_error_code(), error.get_http_status()) == ("Forbidden.ResourceNotFound", 404)


def test_unknown_access_key(local_aliyun: LocalAliyun) -> None:
    stranger = AccessKey("LTAI" + "0" * 20, "not-a-secret")
    error = _error(_client(local_aliyun, stranger))
    assert (error.get_error_code(), error.get_http_status()) == ("InvalidAccessKeyId.NotFound", 404)
    assert error.get_error_msg() == "Specified access key is not found."


def test_disabled_access_key(local_aliyun: LocalAliyun) -> None:
    key = local_aliyun.gateway_access_key
    assert key is not None
    local_aliyun.disable_key(key.access_key_id)
    error = _error(_client(local_aliyun))
    assert (error.get_error_code(), error.get_http_status()) == ("InvalidAccessKeyId.Inactive", 400)


def test_wrong_secret_is_rewritten_to_invalid_access_key_secret(local_aliyun: LocalAliyun) -> None:
    key = local_aliyun.gateway_access_key
    assert key is not None
    error = _error(_client(local_aliyun, AccessKey(key.access_key_id, "wrong-secret")))
    # AcsClient only rewrites SignatureDoesNotMatch when the server's string to sign equals its own.
    assert (error.get_error_code(), error.get_http_status()) == ("InvalidAccessKeySecret", 400)


def test_sts_token_errors(manual_cloud: LocalAliyun) -> None:
    manual_cloud.create_generic_secret("db", "x")
    sts = manual_cloud.state.create_access_key(with_sts_token=True, token_ttl_seconds=60)
    assert sts.security_token is not None
    assert _get(_client(manual_cloud, sts), "db")["SecretName"] == "db"

    wrong = AccessKey(sts.access_key_id, sts.access_key_secret, security_token="CAISwrong")
    assert _error(_client(manual_cloud, wrong), "db").get_error_code() == (
        "InvalidSecurityToken.MismatchWithAccessKey"
    )
    missing = AccessKey(sts.access_key_id, sts.access_key_secret)
    assert _error(_client(manual_cloud, missing), "db").get_error_code() == "MissingSecurityToken"

    assert isinstance(manual_cloud.clock, ManualClock)
    manual_cloud.clock.advance(61)
    error = _error(_client(manual_cloud, sts), "db")
    assert (error.get_error_code(), error.get_http_status()) == ("InvalidSecurityToken.Expired", 400)
    assert error.get_error_msg() == "Specified SecurityToken is expired."


def test_managed_key_works_until_rotated_and_revoked(local_aliyun: LocalAliyun) -> None:
    local_aliyun.create_ram_secret("app-ak")
    local_aliyun.create_generic_secret("db", "x")
    old = local_aliyun.current_key("app-ak")
    client = _client(local_aliyun, old)
    assert _get(client, "db")["SecretData"] == "x"

    local_aliyun.rotate("app-ak")  # no grace: the old key is gone at once
    assert _error(client, "db").get_error_code() == "InvalidAccessKeyId.NotFound"
    new = local_aliyun.current_key("app-ak")
    assert new.access_key_id != old.access_key_id
    assert _get(_client(local_aliyun, new), "db")["SecretData"] == "x"
    assert local_aliyun.count("kms", "GetSecretValue", old.access_key_id) == 2
    assert local_aliyun.count("kms", "GetSecretValue", new.access_key_id) == 1


def test_rotation_grace_period(manual_cloud: LocalAliyun) -> None:
    manual_cloud.create_ram_secret("app-ak")
    manual_cloud.create_generic_secret("db", "x")
    old = manual_cloud.current_key("app-ak")
    client = _client(manual_cloud, old)
    manual_cloud.rotate("app-ak", grace_seconds=300)
    assert _get(client, "db")["SecretName"] == "db"  # still inside the grace period

    assert isinstance(manual_cloud.clock, ManualClock)
    manual_cloud.clock.advance(300)
    assert _error(client, "db").get_error_code() == "InvalidAccessKeyId.NotFound"


def test_revoked_key(local_aliyun: LocalAliyun) -> None:
    key = local_aliyun.gateway_access_key
    assert key is not None
    local_aliyun.revoke_key(key.access_key_id)
    assert _error(_client(local_aliyun)).get_error_code() == "InvalidAccessKeyId.NotFound"

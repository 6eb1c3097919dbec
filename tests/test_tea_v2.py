"""Tea / OpenAPI V2 clients (the real STS 2015-04-01 client) against the emulator's ACS3 verifier."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_sts20150401 import models as sts_models
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi import utils_models as open_api_models
from alibabacloud_tea_openapi.exceptions import ClientException

from common_plugin.adapters.tea import (
    RefreshingTeaClient,
    TeaCredentialsProvider,
    call_with_refresh,
    call_with_refresh_async,
)
from common_plugin.provider import CredentialsProvider
from common_plugin.testing import LocalAliyun
from common_plugin.testing.acs3_signature import acs3_signature, canonical_request
from common_plugin.testing.wire import HttpRequest

SECRET = "app-key"
SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def fetches(cloud: LocalAliyun) -> int:
    return cloud.count("dkms", "GetSecretValue")


def sts_client(cloud: LocalAliyun, credentials: TeaCredentialsProvider) -> StsClient:
    config = open_api_models.Config(
        credential=credentials.credential_client(),
        endpoint=cloud.sts_endpoint,
        protocol="http",
        region_id=cloud.region_id,
    )
    return StsClient(config)


@pytest.fixture
def cloud(local_aliyun: LocalAliyun) -> LocalAliyun:
    local_aliyun.create_ram_secret(SECRET)
    return local_aliyun


def test_signs_each_request_with_the_managed_key(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    credentials = TeaCredentialsProvider(make_provider(cloud), SECRET)
    client = sts_client(cloud, credentials)
    assert client.get_caller_identity().body.identity_type == "RAMUser"
    key = cloud.current_key(SECRET)
    assert cloud.count("sts", "GetCallerIdentity", key.access_key_id) == 1
    tea_credentials = credentials.get_credentials()
    assert tea_credentials.get_access_key_id() == key.access_key_id
    assert tea_credentials.get_provider_name() == credentials.get_provider_name()
    for text in (repr(credentials), repr(tea_credentials)):
        assert key.access_key_secret not in text and key.access_key_id not in text


def test_revoked_key_one_fetch_one_retry(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    credentials = TeaCredentialsProvider(make_provider(cloud), SECRET)
    sts = RefreshingTeaClient(sts_client(cloud, credentials), credentials)
    sts.get_caller_identity()
    old = cloud.current_key(SECRET).access_key_id
    cloud.rotate(SECRET)  # immediate revoke
    new = cloud.current_key(SECRET).access_key_id
    assert sts.get_caller_identity().body.user_id
    assert fetches(cloud) == 2  # the first load and exactly one for the revoke
    assert cloud.count("sts", "GetCallerIdentity", old) == 2  # one success, one rejection
    assert cloud.count("sts", "GetCallerIdentity", new) == 1  # exactly one retry


def test_revoked_key_async_one_fetch_one_retry(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    credentials = TeaCredentialsProvider(make_provider(cloud), SECRET)
    sts = RefreshingTeaClient(sts_client(cloud, credentials), credentials)

    async def scenario() -> None:
        await sts.get_caller_identity_async()
        cloud.rotate(SECRET)
        results = await asyncio.gather(*(sts.get_caller_identity_async() for _ in range(20)))
        assert all(r.body.user_id for r in results)

    asyncio.run(scenario())
    assert fetches(cloud) == 2
    assert cloud.count("sts", "GetCallerIdentity", cloud.current_key(SECRET).access_key_id) == 20


def test_unwrapped_client_raises_the_rejection_code(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    credentials = TeaCredentialsProvider(make_provider(cloud), SECRET)
    client = sts_client(cloud, credentials)
    client.get_caller_identity()
    cloud.rotate(SECRET)
    with pytest.raises(ClientException) as info:
        client.get_caller_identity()
    assert info.value.code == "InvalidAccessKeyId.NotFound"
    assert fetches(cloud) == 1


def test_key_unchanged_after_rejection_raises_the_original_error(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    credentials = TeaCredentialsProvider(make_provider(cloud), SECRET)
    client = sts_client(cloud, credentials)
    client.get_caller_identity()
    cloud.disable_key(cloud.current_key(SECRET).access_key_id)
    with pytest.raises(ClientException) as info:
        call_with_refresh(credentials, client.get_caller_identity, ak_expire_handler=lambda e: True)
    assert info.value.code == "InvalidAccessKeyId.Inactive"
    assert fetches(cloud) == 2  # one fetch returned the same key: no retry


def test_other_errors_pass_through_without_a_fetch(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    credentials = TeaCredentialsProvider(make_provider(cloud), SECRET)
    sts = RefreshingTeaClient(sts_client(cloud, credentials), credentials)
    request = sts_models.AssumeRoleRequest(role_arn="not-an-arn", role_session_name="s1")
    with pytest.raises(ClientException) as info:
        sts.assume_role(request)
    assert info.value.code == "InvalidParameter.RoleArn"
    assert fetches(cloud) == 1 and cloud.count("sts") == 1


def test_sts_token_secret_sends_and_is_checked_against_the_token(
    local_aliyun: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    local_aliyun.create_ram_secret(SECRET, with_sts_token=True)
    credentials = TeaCredentialsProvider(make_provider(local_aliyun), SECRET)
    assert sts_client(local_aliyun, credentials).get_caller_identity().body.arn
    key = local_aliyun.current_key(SECRET)
    assert key.security_token and credentials.get_credentials().get_security_token() == key.security_token
    # the same key without its token is refused: the verifier really checks x-acs-security-token
    config = open_api_models.Config(
        access_key_id=key.access_key_id,
        access_key_secret=key.access_key_secret,
        endpoint=local_aliyun.sts_endpoint,
        protocol="http",
    )
    with pytest.raises(ClientException) as info:
        StsClient(config).get_caller_identity()
    assert info.value.code == "MissingSecurityToken"


def test_wrong_secret_is_a_signature_mismatch(local_aliyun: LocalAliyun) -> None:
    key = local_aliyun.state.create_access_key()
    config = open_api_models.Config(
        access_key_id=key.access_key_id,
        access_key_secret=key.access_key_secret + "x",
        endpoint=local_aliyun.rpc_endpoint,
        protocol="http",
    )
    with pytest.raises(ClientException) as info:
        StsClient(config).get_caller_identity()
    assert info.value.code == "SignatureDoesNotMatch"


def _signed_request(cloud: LocalAliyun, secret: str, key_id: str, body: bytes) -> urllib.request.Request:
    headers = {
        "host": cloud.rpc_endpoint,
        "x-acs-action": "DescribeRegions",
        "x-acs-version": "2014-05-26",
        "x-acs-date": "2026-01-01T00:00:00Z",
        "x-acs-signature-nonce": "n1",
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        "content-type": "application/x-www-form-urlencoded",
    }
    signed = tuple(sorted(headers))
    canonical = canonical_request(HttpRequest("POST", "/?RegionId=cn-hangzhou", headers, body), signed)
    _, signature = acs3_signature(secret, canonical)
    headers["authorization"] = (
        f"ACS3-HMAC-SHA256 Credential={key_id},SignedHeaders={';'.join(signed)},Signature={signature}"
    )
    return urllib.request.Request(  # noqa: S310 - the loopback emulator
        f"http://{cloud.rpc_endpoint}/?RegionId=cn-hangzhou", data=body, headers=headers, method="POST"
    )


def test_verifier_checks_the_payload_hash_and_signed_headers(local_aliyun: LocalAliyun) -> None:
    key = local_aliyun.state.create_access_key()
    good = _signed_request(local_aliyun, key.access_key_secret, key.access_key_id, b"A=1")
    with urllib.request.urlopen(good, timeout=30) as response:  # noqa: S310
        assert "Regions" in json.load(response)

    def code_of(request: urllib.request.Request) -> str:
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=30)  # noqa: S310
        return str(json.load(info.value)["Code"])

    tampered = _signed_request(local_aliyun, key.access_key_secret, key.access_key_id, b"A=1")
    tampered.data = b"A=2"
    assert code_of(tampered) == "InvalidContentSha256"
    unsigned = _signed_request(local_aliyun, key.access_key_secret, key.access_key_id, b"A=1")
    unsigned.add_header("x-acs-extra", "1")
    assert code_of(unsigned) == "IncompleteSignature"
    local_aliyun.revoke_key(key.access_key_id)
    revoked = _signed_request(local_aliyun, key.access_key_secret, key.access_key_id, b"A=1")
    assert code_of(revoked) == "InvalidAccessKeyId.NotFound"


class _Rejected(Exception):
    code = "InvalidAccessKeyId.NotFound"


def test_a_non_seekable_stream_argument_is_not_replayed(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    credentials = TeaCredentialsProvider(make_provider(cloud), SECRET)
    credentials.get_credentials()
    cloud.rotate(SECRET)
    calls: list[Any] = []

    def upload(stream: Any) -> str:
        calls.append(stream.read())
        credentials.get_credentials()
        if len(calls) == 1:
            raise _Rejected()
        return "ok"

    class OneShot(io.BytesIO):
        def seekable(self) -> bool:
            return False

    with pytest.raises(_Rejected):
        call_with_refresh(credentials, upload, OneShot(b"data"))
    assert calls == [b"data"] and fetches(cloud) == 2  # the key was still replaced for the next call
    calls.clear()
    credentials.provider.forget(SECRET)
    cloud.rotate(SECRET)
    credentials.get_credentials()
    cloud.rotate(SECRET)
    assert call_with_refresh(credentials, upload, io.BytesIO(b"data")) == "ok"
    assert calls == [b"data", b"data"]  # a seekable stream is rewound for the retry


def test_a_non_seekable_stream_argument_is_not_replayed_by_the_async_twin(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    credentials = TeaCredentialsProvider(make_provider(cloud), SECRET)
    credentials.get_credentials()
    cloud.rotate(SECRET)
    calls: list[Any] = []

    async def upload(stream: Any) -> str:
        calls.append(stream.read())
        await credentials.get_credentials_async()
        if len(calls) == 1:
            raise _Rejected()
        return "ok"

    class OneShot(io.BytesIO):
        def seekable(self) -> bool:
            return False

    with pytest.raises(_Rejected):
        asyncio.run(call_with_refresh_async(credentials, upload, OneShot(b"data")))
    assert calls == [b"data"] and fetches(cloud) == 2  # the key was still replaced for the next call
    assert credentials.provider.status().counters["retries"] == 0


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_key_revoked_right_after_a_cold_fetch_is_retried(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider], flavour: str
) -> None:
    """Nothing was cached when the call began: the key it signed with was fetched while signing and
    revoked at once (a rotation at the worst moment). The call still reports that exact key, and
    is retried with its replacement."""
    provider = make_provider(cloud)
    credentials = TeaCredentialsProvider(provider, SECRET)
    sts = RefreshingTeaClient(sts_client(cloud, credentials), credentials)
    rotated: list[object] = []

    def rotate_once(name: str, old: object, new: object) -> None:
        if old is None:  # the cold fetch made while signing the first request
            rotated.append(cloud.rotate(SECRET))

    provider.add_listener(rotate_once, secret_name=SECRET)
    if flavour == "sync":
        assert sts.get_caller_identity().body.user_id
    else:
        assert asyncio.run(sts.get_caller_identity_async()).body.user_id
    assert len(rotated) == 1 and fetches(cloud) == 2
    assert cloud.count("sts", "GetCallerIdentity", cloud.current_key(SECRET).access_key_id) == 1
    assert provider.status().counters["retries"] == 1


def test_credential_client_type_and_sample(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider], monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = make_provider(cloud)
    credentials = TeaCredentialsProvider(provider, SECRET)
    client = credentials.credential_client()
    assert isinstance(client, CredentialClient)
    assert client.get_credential().access_key_id == cloud.current_key(SECRET).access_key_id
    monkeypatch.syspath_prepend(str(SAMPLES))
    sys.modules.pop("tea_v2_client", None)
    import tea_v2_client

    assert tea_v2_client.main(provider, SECRET, cloud.sts_endpoint, protocol="http").endswith("user/app-user")
    cloud.rotate(SECRET)
    assert tea_v2_client.main(provider, SECRET, cloud.sts_endpoint, protocol="http")
    assert fetches(cloud) == 2

"""Emulator fidelity: requests the real services refuse must be refused by the emulator too.

Each test here failed against the laxer emulator it was written for (a SecurityToken sent with a
permanent key, RPC v1 scheme fields, the DKMS body hash, the OSS v4 credential scope, special
characters through a real AcsClient, and the DKMS key pool). The DKMS tests that need the real
dkms-gcs client (its process-wide session cache) run in the reference environment,
``tests/dkms_reference``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import oss2
import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest
from aliyunsdkkms.request.v20160120.GetSecretValueRequest import GetSecretValueRequest as AcsGetSecret
from emulator_harness import serve

from common_plugin.clock import ManualClock
from common_plugin.exceptions import SecretFetchError
from common_plugin.sources.dkms import DkmsSource
from common_plugin.sources.dkms_codec import decode_error, encode_get_secret_value_request
from common_plugin.testing import LocalAliyun
from common_plugin.testing.acs3_signature import acs3_signature, canonical_request
from common_plugin.testing.dkms import KEY_POOL_SIZE, ClientKey, DkmsService
from common_plugin.testing.oss_signature import ParsedAuthorization, v4_signature
from common_plugin.testing.rpc_signature import compute_signature, string_to_sign
from common_plugin.testing.state import AccessKey, CloudState
from common_plugin.testing.wire import HttpRequest, HttpResponse

PASSWORD = "p12-pass"  # noqa: S105 - a throwaway test password
SPECIAL = "db pass*~/é"
START = 1_800_000_000.0  # 2027-01-15T08:00:00Z


@pytest.fixture
def cloud(local_aliyun_factory: Callable[..., LocalAliyun]) -> LocalAliyun:
    return local_aliyun_factory(clock=ManualClock(START))


def _gateway_key(cloud: LocalAliyun) -> AccessKey:
    key = cloud.gateway_access_key
    assert key is not None
    return key


def _code(response: HttpResponse) -> tuple[int, str]:
    return response.status, str(json.loads(response.body)["Code"])


# ---- 1. a SecurityToken sent with a permanent key ------------------------------------------------
def _caller_identity(client: AcsClient, endpoint: str) -> dict[str, Any]:
    request = CommonRequest(
        domain=endpoint, version="2015-04-01", action_name="GetCallerIdentity", product="Sts"
    )
    request.set_protocol_type("http")
    result: dict[str, Any] = json.loads(client.do_action_with_exception(request))
    return result


def test_rpc_v1_refuses_a_security_token_with_a_permanent_key(cloud: LocalAliyun) -> None:
    key = _gateway_key(cloud)
    assert key.security_token is None
    plain = AcsClient(key.access_key_id, key.access_key_secret, cloud.region_id)
    assert _caller_identity(plain, cloud.rpc_endpoint)["IdentityType"] == "RAMUser"

    sts_key = cloud.state.create_access_key(with_sts_token=True)  # an unrelated, valid token
    assert sts_key.security_token is not None
    credential = StsTokenCredential(key.access_key_id, key.access_key_secret, sts_key.security_token)
    client = AcsClient(region_id=cloud.region_id, credential=credential)
    with pytest.raises(ServerException) as info:
        _caller_identity(client, cloud.rpc_endpoint)
    assert (info.value.get_error_code(), info.value.get_http_status()) == (
        "InvalidSecurityToken.MismatchWithAccessKey",
        400,
    )
    # The STS key with its own token still works.
    own = AcsClient(
        region_id=cloud.region_id,
        credential=StsTokenCredential(
            sts_key.access_key_id, sts_key.access_key_secret, sts_key.security_token
        ),
    )
    assert _caller_identity(own, cloud.rpc_endpoint)["AccountId"]


def _acs3_request(key: AccessKey, token: str) -> HttpRequest:
    body = b""
    headers = {
        "host": "127.0.0.1",
        "x-acs-action": "GetCallerIdentity",
        "x-acs-version": "2015-04-01",
        "x-acs-date": "2027-01-15T08:00:00Z",
        "x-acs-signature-nonce": "0123456789abcdef",
        "x-acs-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    }
    if token:
        headers["x-acs-security-token"] = token
    signed = tuple(sorted(headers))
    request = HttpRequest("POST", "/", headers, body)
    _, signature = acs3_signature(key.access_key_secret, canonical_request(request, signed))
    headers["authorization"] = (
        f"ACS3-HMAC-SHA256 Credential={key.access_key_id},SignedHeaders={';'.join(signed)},"
        f"Signature={signature}"
    )
    return request


def test_acs3_refuses_a_security_token_with_a_permanent_key(cloud: LocalAliyun) -> None:
    key = _gateway_key(cloud)
    assert cloud.rpc.handle(_acs3_request(key, "")).status == 200
    unrelated = cloud.state.create_access_key(with_sts_token=True).security_token
    assert unrelated is not None
    assert _code(cloud.rpc.handle(_acs3_request(key, unrelated))) == (
        400,
        "InvalidSecurityToken.MismatchWithAccessKey",
    )


# ---- 2. RPC v1 signature scheme fields -------------------------------------------------------------
def _v1_params(key: AccessKey, **changes: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "Action": "GetCallerIdentity",
        "Version": "2015-04-01",
        "Format": "JSON",
        "AccessKeyId": key.access_key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureType": "",
        "SignatureVersion": "1.0",
        "Timestamp": "2027-01-15T08:00:00Z",
        "SignatureNonce": "6a1f0e5b2c8d4e7f9a0b1c2d3e4f5a6b",
    }
    params.update(changes)
    signed = {k: v for k, v in params.items() if v is not None}
    signed["Signature"] = compute_signature(key.access_key_secret, string_to_sign("GET", signed))
    return signed


def _v1_handle(cloud: LocalAliyun, params: dict[str, str]) -> HttpResponse:
    return cloud.rpc.handle(HttpRequest("GET", "/?" + urlencode(params), {}))


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"SignatureMethod": "HMAC-SHA256"}, "IncompleteSignature"),
        ({"SignatureMethod": None}, "IncompleteSignature"),
        ({"SignatureVersion": "9.9"}, "IncompleteSignature"),
        ({"SignatureVersion": None}, "IncompleteSignature"),
        ({"SignatureMethod": "SHA256withRSA"}, "IncompleteSignature"),  # needs SignatureType=PRIVATEKEY
        ({"Timestamp": None}, "MissingTimestamp"),
        ({"Timestamp": ""}, "MissingTimestamp"),
        ({"Timestamp": "2027-01-15 08:00:00"}, "InvalidTimeStamp.Format"),
        ({"Timestamp": "2027-1-15T8:00:00Z"}, "InvalidTimeStamp.Format"),
        ({"Timestamp": "2027-02-30T08:00:00Z"}, "InvalidTimeStamp.Format"),
        ({"Timestamp": "2027-01-15T08:00:00.123Z"}, "InvalidTimeStamp.Format"),
        ({"SignatureNonce": None}, "MissingSignatureNonce"),
        ({"SignatureNonce": ""}, "MissingSignatureNonce"),
        (  # what the reviewer sent: wrong scheme fields, no Timestamp / SignatureNonce
            {
                "SignatureMethod": "HMAC-SHA256",
                "SignatureVersion": "9.9",
                "Timestamp": None,
                "SignatureNonce": None,
            },
            "IncompleteSignature",
        ),
    ],
)
def test_rpc_v1_checks_the_signature_scheme_fields(
    cloud: LocalAliyun, changes: dict[str, str | None], code: str
) -> None:
    key = _gateway_key(cloud)
    assert _code(_v1_handle(cloud, _v1_params(key, **changes))) == (400, code)


def test_rpc_v1_scheme_check_ignores_the_time_window_and_nonce_reuse(cloud: LocalAliyun) -> None:
    key = _gateway_key(cloud)
    params = _v1_params(key)
    assert _v1_handle(cloud, params).status == 200
    assert _v1_handle(cloud, params).status == 200  # the same nonce again: replays are allowed
    assert _v1_handle(cloud, _v1_params(key, Timestamp="2001-01-01T00:00:00Z")).status == 200


def test_real_acs_client_passes_the_scheme_check(cloud: LocalAliyun) -> None:
    key = _gateway_key(cloud)
    client = AcsClient(key.access_key_id, key.access_key_secret, cloud.region_id)
    assert _caller_identity(client, cloud.rpc_endpoint)["IdentityType"] == "RAMUser"


# ---- 3. the DKMS body hash -------------------------------------------------------------------------
@pytest.fixture
def dkms_state() -> CloudState:
    return CloudState(clock=ManualClock(START), seed=1)


@pytest.fixture
def dkms(dkms_state: CloudState) -> DkmsService:
    return DkmsService(dkms_state)


@pytest.fixture
def captured(dkms: DkmsService, monkeypatch: pytest.MonkeyPatch) -> list[HttpRequest]:
    """Every request the DKMS service receives, as received."""
    requests: list[HttpRequest] = []
    handle = dkms.handle

    def capture(request: HttpRequest) -> HttpResponse:
        requests.append(dataclasses.replace(request, headers=dict(request.headers)))
        return handle(request)

    monkeypatch.setattr(dkms, "handle", capture)
    return requests


@pytest.fixture
def dkms_endpoint(dkms: DkmsService, dkms_state: CloudState, captured: list[HttpRequest]) -> Iterator[str]:
    with serve(dkms, dkms_state) as address:
        yield address


def _dkms_client(endpoint: str, key: ClientKey) -> DkmsSource:
    return DkmsSource(
        region_id="cn-hangzhou",
        endpoint=endpoint,
        client_key_content=key.to_json(),
        password=PASSWORD,
        protocol="http",
    )


def _dkms_error(response: HttpResponse) -> tuple[int, str]:
    return response.status, decode_error(response.body).error_code


def test_dkms_refuses_a_body_that_does_not_match_content_sha256(
    dkms_state: CloudState, dkms: DkmsService, dkms_endpoint: str, captured: list[HttpRequest]
) -> None:
    dkms_state.create_generic_secret("public", "harmless")
    dkms_state.create_generic_secret("private", "crown jewels")
    key = dkms.issue_client_key(PASSWORD)
    assert _dkms_client(dkms_endpoint, key).get_secret_value("public").secret_data
    (real,) = captured
    assert real.header("content-sha256") and real.header("authorization").startswith("Bearer ")

    replay = dkms.handle(dataclasses.replace(real, headers=dict(real.headers)))  # unchanged: still valid
    assert replay.status == 200

    # Swap the body (another secret) but keep the signed headers, content-sha256 included: the
    # signature still verifies over the headers, so only the body-hash check can catch it.
    swapped_body = encode_get_secret_value_request("private")
    swapped = dataclasses.replace(real, headers=dict(real.headers), body=swapped_body)
    assert _dkms_error(dkms.handle(swapped)) == (401, "Unauthorized")
    # A content-sha256 rewritten to the new body breaks the signature instead.
    rehashed_headers = {**real.headers, "content-sha256": "0" * 64}
    assert _dkms_error(dkms.handle(dataclasses.replace(real, headers=rehashed_headers))) == (
        401,
        "Unauthorized",
    )


# ---- 4. the OSS v4 credential scope ----------------------------------------------------------------
def _oss_bucket(cloud: LocalAliyun, key: AccessKey, region: str) -> oss2.Bucket:
    assert cloud.oss_endpoint is not None
    return oss2.Bucket(
        oss2.AuthV4(key.access_key_id, key.access_key_secret), cloud.oss_endpoint, "bkt", region=region
    )


@pytest.mark.parametrize("region", ["us-west-1", "nowhere", "cn-shanghai"])
def test_oss_v4_refuses_a_scope_for_another_region(cloud: LocalAliyun, region: str) -> None:
    cloud.create_bucket("bkt")
    key = _gateway_key(cloud)
    _oss_bucket(cloud, key, cloud.region_id).put_object("a.txt", b"ok")
    with pytest.raises(oss2.exceptions.ServerError) as info:
        _oss_bucket(cloud, key, region).put_object("a.txt", b"evil")
    assert (info.value.status, info.value.code) == (403, "SignatureDoesNotMatch")
    assert _oss_bucket(cloud, key, cloud.region_id).get_object("a.txt").read() == b"ok"


def test_oss_v4_scope_follows_the_emulator_region(local_aliyun_factory: Callable[..., LocalAliyun]) -> None:
    cloud = local_aliyun_factory(region_id="cn-shanghai")
    cloud.create_bucket("bkt")
    key = _gateway_key(cloud)
    _oss_bucket(cloud, key, "cn-shanghai").put_object("a.txt", b"ok")
    with pytest.raises(oss2.exceptions.ServerError) as info:
        _oss_bucket(cloud, key, "cn-hangzhou").get_object("a.txt")
    assert (info.value.status, info.value.code) == (403, "SignatureDoesNotMatch")


def _v4_request(key: AccessKey, *, date: str, region: str, product: str, terminator: str) -> HttpRequest:
    headers = {"x-oss-date": "20270115T080000Z", "x-oss-content-sha256": "UNSIGNED-PAYLOAD"}
    request = HttpRequest("GET", "/bkt/a.txt", headers)
    auth = ParsedAuthorization(4, key.access_key_id, "", date, region, product, (), terminator)
    _, signature = v4_signature(request, "bkt", "a.txt", auth, key.access_key_secret)
    headers["authorization"] = (
        f"OSS4-HMAC-SHA256 Credential={key.access_key_id}/{date}/{region}/{product}/{terminator},"
        f"Signature={signature}"
    )
    return request


@pytest.mark.parametrize(
    "scope",
    [
        {"product": "s3"},
        {"terminator": "aws4_request"},
        {"date": "20270114"},  # x-oss-date says 20270115
    ],
)
def test_oss_v4_checks_product_terminator_and_date(cloud: LocalAliyun, scope: dict[str, str]) -> None:
    cloud.create_bucket("bkt")
    key = _gateway_key(cloud)
    _oss_bucket(cloud, key, cloud.region_id).put_object("a.txt", b"ok")
    good = {
        "date": "20270115",
        "region": cloud.region_id,
        "product": "oss",
        "terminator": "aliyun_v4_request",
    }
    assert cloud.oss.handle(_v4_request(key, **good)).status == 200  # the hand-built request is right
    response = cloud.oss.handle(_v4_request(key, **{**good, **scope}))
    assert response.status == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in response.body


# ---- 5. special characters through a real AcsClient ------------------------------------------------
def test_real_acs_client_round_trips_special_characters(cloud: LocalAliyun) -> None:
    cloud.create_generic_secret(SPECIAL, "s3cr3t é")
    key = _gateway_key(cloud)
    client = cloud.configure_acs_client(
        AcsClient(key.access_key_id, key.access_key_secret, cloud.region_id, verify=str(cloud.ca_file))
    )
    request = AcsGetSecret()
    request.set_SecretName(SPECIAL)
    body = json.loads(client.do_action_with_exception(request))  # HTTPS gateway, signature verified
    assert (body["SecretName"], body["SecretData"]) == (SPECIAL, "s3cr3t é")
    assert cloud.count("kms", "GetSecretValue", key.access_key_id) == 1

    common = CommonRequest(
        domain=cloud.rpc_endpoint, version="2015-04-01", action_name="GetCallerIdentity", product="Sts"
    )
    common.set_protocol_type("http")
    common.add_query_param("Note", SPECIAL)
    assert json.loads(client.do_action_with_exception(common))["IdentityType"] == "RAMUser"


# ---- 6. the DKMS RSA key pool --------------------------------------------------------------------
def test_issued_client_keys_share_pooled_rsa_keys_but_never_back_to_back(dkms: DkmsService) -> None:
    keys = [dkms.issue_client_key(f"pw-{i}") for i in range(2 * KEY_POOL_SIZE + 1)]
    assert len({k.key_id for k in keys}) == len(keys)
    assert len({k.private_key_data for k in keys}) == len(keys)  # own certificate, password and salt
    public_keys = [k.public_key for k in keys]
    assert len(set(public_keys)) == KEY_POOL_SIZE  # RSA generation is paid KEY_POOL_SIZE times only
    assert all(a != b for a, b in zip(public_keys, public_keys[1:], strict=False))


def test_a_pooled_key_does_not_sign_for_the_next_one(
    dkms_state: CloudState, dkms: DkmsService, dkms_endpoint: str
) -> None:
    dkms_state.create_generic_secret("plain", "hello")
    first, second = dkms.issue_client_key(PASSWORD), dkms.issue_client_key(PASSWORD)
    forged = ClientKey(second.key_id, first.private_key_data, second.public_key)
    with pytest.raises(SecretFetchError) as info:
        _dkms_client(dkms_endpoint, forged).get_secret_value("plain")
    assert info.value.code == "Unauthorized"
    assert _dkms_client(dkms_endpoint, second).get_secret_value("plain").secret_data

"""The emulated DKMS gateway against the real ``alibabacloud_dkms_gcs`` and dkms-transfer clients."""

from __future__ import annotations

import json
from collections.abc import Iterator

import OpenSSL.crypto
import pytest
from alibabacloud_dkms_transfer.kms_transfer_acs_client import KmsTransferAcsClient
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkkms.request.v20160120.GetSecretValueRequest import GetSecretValueRequest as AcsGetSecret
from emulator_harness import serve
from google.protobuf.message import DecodeError
from openapi.models import Config
from openapi_util.models import RuntimeOptions
from openapi_util.protobuf import api_pb2
from sdk.client import Client
from sdk.models import GetSecretValueRequest
from Tea.exceptions import TeaException

from common_plugin.clock import ManualClock
from common_plugin.testing.dkms import ClientKey, DkmsService
from common_plugin.testing.state import CloudState, Fault
from common_plugin.testing.wire import HttpRequest

# dkms-gcs 1.0.2 loads the PKCS#12 with pyOpenSSL's deprecated load_pkcs12 and a str password.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:openapi_util.client")

PASSWORD = "p12-pass"  # noqa: S105 - a throwaway test password


@pytest.fixture
def state() -> CloudState:
    return CloudState(clock=ManualClock(1_800_000_000.0), seed=1)


@pytest.fixture
def dkms(state: CloudState) -> DkmsService:
    return DkmsService(state)


@pytest.fixture
def client_key(dkms: DkmsService) -> ClientKey:
    return dkms.issue_client_key(PASSWORD)


@pytest.fixture
def endpoint(dkms: DkmsService, state: CloudState) -> Iterator[str]:
    with serve(dkms, state) as address:
        yield address


def make_client(endpoint: str, key: ClientKey | str, password: str = PASSWORD) -> Client:
    content = key.to_json() if isinstance(key, ClientKey) else key
    return Client(Config(protocol="http", endpoint=endpoint, client_key_content=content, password=password))


def test_client_key_repr_and_json_hide_nothing_they_should_not(client_key: ClientKey) -> None:
    assert client_key.private_key_data not in repr(client_key)
    assert client_key.key_id.startswith("KAAP.")
    assert json.loads(client_key.to_json()) == {
        "KeyId": client_key.key_id,
        "PrivateKeyData": client_key.private_key_data,
    }


def test_get_secret_value_returns_all_fields(state: CloudState, endpoint: str, client_key: ClientKey) -> None:
    secret = state.create_ram_secret("app-ak", rotation_interval_seconds=86400)
    client = make_client(endpoint, client_key)

    reply = client.get_secret_value(
        GetSecretValueRequest(secret_name="app-ak", version_stage="ACSCurrent", fetch_extended_config=True)
    )

    assert reply.secret_name == "app-ak"
    assert reply.secret_data == secret.current.secret_data
    assert reply.version_id == secret.current.version_id
    assert reply.version_stages == ["ACSCurrent"]
    assert reply.secret_type == "RAMCredentials"
    assert reply.automatic_rotation == "Enabled"
    assert reply.rotation_interval == "86400s"
    assert json.loads(reply.extended_config)["SecretSubType"] == "RamUserAccessKey"
    assert reply.request_id
    assert state.count("dkms", "GetSecretValue", client_key.key_id) == 1


def test_previous_version_by_stage(state: CloudState, endpoint: str, client_key: ClientKey) -> None:
    state.create_ram_secret("app-ak")
    first = state.get_secret("app-ak")
    assert first is not None
    old_data = first.current.secret_data
    state.rotate("app-ak", grace_seconds=60)
    client = make_client(endpoint, client_key)

    reply = client.get_secret_value(GetSecretValueRequest(secret_name="app-ak", version_stage="ACSPrevious"))

    assert reply.secret_data == old_data
    assert reply.version_stages == ["ACSPrevious"]
    assert reply.extended_config == ""


def test_missing_secret_is_resource_not_found(endpoint: str, client_key: ClientKey) -> None:
    client = make_client(endpoint, client_key)
    with pytest.raises(TeaException) as info:
        client.get_secret_value(GetSecretValueRequest(secret_name="nope"))
    assert info.value.code == "Forbidden.ResourceNotFound"
    assert info.value.data["httpCode"] == 404
    assert info.value.data["requestId"]


def test_unknown_and_revoked_key_ids_are_unauthorized(
    state: CloudState, dkms: DkmsService, endpoint: str, client_key: ClientKey
) -> None:
    state.create_generic_secret("plain", "hello")
    stranger = DkmsService(state).issue_client_key(PASSWORD)  # registered with another gateway
    with pytest.raises(TeaException) as info:
        make_client(endpoint, stranger).get_secret_value(GetSecretValueRequest(secret_name="plain"))
    assert (info.value.code, info.value.data["httpCode"]) == ("Unauthorized", 401)

    client = make_client(endpoint, client_key)
    assert client.get_secret_value(GetSecretValueRequest(secret_name="plain")).secret_data == "hello"
    dkms.revoke_client_key(client_key.key_id)
    with pytest.raises(TeaException, match="Unauthorized"):
        client.get_secret_value(GetSecretValueRequest(secret_name="plain"))


def test_signature_by_another_private_key_is_rejected(
    state: CloudState, dkms: DkmsService, endpoint: str, client_key: ClientKey
) -> None:
    state.create_generic_secret("plain", "hello")
    other = dkms.issue_client_key(PASSWORD)
    forged = json.dumps({"KeyId": client_key.key_id, "PrivateKeyData": other.private_key_data})
    with pytest.raises(TeaException) as info:
        make_client(endpoint, forged).get_secret_value(GetSecretValueRequest(secret_name="plain"))
    assert info.value.code == "Unauthorized"


def test_wrong_password_fails_at_construction(endpoint: str, client_key: ClientKey) -> None:
    with pytest.raises(OpenSSL.crypto.Error):
        make_client(endpoint, client_key, password="wrong")


def test_throttling_is_retried_by_the_client(state: CloudState, endpoint: str, client_key: ClientKey) -> None:
    state.create_generic_secret("plain", "hello")
    state.faults["dkms"].add(Fault("status", status=400, code="Rejected.Throttling"), count=2)
    client = make_client(endpoint, client_key)

    reply = client.get_secret_value_with_options(
        GetSecretValueRequest(secret_name="plain"), RuntimeOptions(backoff_policy="no")
    )

    assert reply.secret_data == "hello"
    assert state.count("dkms", "GetSecretValue") == 3


def test_internal_failure_is_not_retried(state: CloudState, endpoint: str, client_key: ClientKey) -> None:
    state.faults["dkms"].add(Fault("status", status=500, code="InternalFailure"), count=5)
    with pytest.raises(TeaException) as info:
        make_client(endpoint, client_key).get_secret_value(GetSecretValueRequest(secret_name="plain"))
    assert (info.value.code, info.value.data["httpCode"]) == ("InternalFailure", 500)
    assert state.count("dkms") == 1


def test_transfer_client_returns_json(state: CloudState, endpoint: str, client_key: ClientKey) -> None:
    secret = state.create_ram_secret("app-ak")
    client = KmsTransferAcsClient(
        config=Config(
            protocol="http", endpoint=endpoint, client_key_content=client_key.to_json(), password=PASSWORD
        ),
        ak="x",
        secret="x",
    )
    request = AcsGetSecret()
    request.set_SecretName("app-ak")
    request.set_FetchExtendedConfig(True)
    request.set_accept_format("JSON")

    body = json.loads(client.do_action_with_exception(request))

    assert body["SecretData"] == secret.current.secret_data
    assert body["VersionStages"] == {"VersionStage": ["ACSCurrent"]}
    assert body["SecretType"] == "RAMCredentials"


def test_transfer_client_maps_errors(state: CloudState, dkms: DkmsService, endpoint: str) -> None:
    stranger = DkmsService(state).issue_client_key(PASSWORD)
    request = AcsGetSecret()
    request.set_SecretName("missing")
    for key, code, status in (
        (stranger, "InvalidAccessKeyId.NotFound", 401),
        (dkms.issue_client_key(PASSWORD), "Forbidden.ResourceNotFound", 404),
    ):
        config = Config(
            protocol="http", endpoint=endpoint, client_key_content=key.to_json(), password=PASSWORD
        )
        client = KmsTransferAcsClient(config=config, ak="x", secret="x")
        with pytest.raises(ServerException) as info:
            client.do_action_with_exception(request)
        assert (info.value.get_error_code(), info.value.get_http_status()) == (code, status)


def test_unsigned_and_malformed_requests(dkms: DkmsService) -> None:
    def error_of(request: HttpRequest) -> tuple[int, str]:
        response = dkms.handle(request)
        error = api_pb2.Error()
        error.ParseFromString(response.body)
        assert error.StatusCode == response.status
        return response.status, error.ErrorCode

    assert error_of(HttpRequest("POST", "/", {}, b"")) == (400, "MissingParameter")
    headers = {
        "x-kms-apiversion": "dkms-gcs-0.2",
        "x-kms-apiname": "GetSecretValue",
        "x-kms-signaturemethod": "RSA_PKCS1_SHA_256",
        "x-kms-acccesskeyid": "KAAP.unknown",
        "date": "Mon, 23 Nov 2026 11:51:55 GMT",
        "authorization": "Basic abc",
    }
    assert error_of(HttpRequest("POST", "/", headers, b"")) == (400, "InvalidParam")
    headers["authorization"] = "Bearer AAAA"
    assert error_of(HttpRequest("POST", "/", headers, b"")) == (401, "Unauthorized")
    assert dkms.handle(HttpRequest("POST", "/", headers, b"")).action == "GetSecretValue"


def test_error_and_garbage_responses(dkms: DkmsService) -> None:
    response = dkms.error_response(400, "Rejected.Throttling", "slow down")
    error = api_pb2.Error()
    error.ParseFromString(response.body)
    assert (error.ErrorCode, error.ErrorMessage, error.StatusCode) == (
        "Rejected.Throttling",
        "slow down",
        400,
    )
    with pytest.raises(DecodeError):
        api_pb2.GetSecretValueResponse().ParseFromString(dkms.garbage_response().body)

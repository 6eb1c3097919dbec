"""The emulated DKMS gateway, driven by the product's DKMS client.

The same service is checked against the real ``alibabacloud-dkms-gcs`` and dkms-transfer clients in
the reference environment (``tests/dkms_reference``, run by ``make test``).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from emulator_harness import serve

from common_plugin.clock import ManualClock
from common_plugin.credentials import SecretValue
from common_plugin.exceptions import SecretFetchError
from common_plugin.sources.dkms import DkmsSource
from common_plugin.sources.dkms_codec import (
    decode_error,
    decode_secret_reply,
    encode_get_secret_value_request,
)
from common_plugin.sources.dkms_signing import DkmsClientKey, http_date, request_headers
from common_plugin.testing.dkms import ClientKey, DkmsService
from common_plugin.testing.state import CloudState, Fault
from common_plugin.testing.wire import HttpRequest, HttpResponse

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


def make_source(endpoint: str, key: ClientKey | str, password: str = PASSWORD) -> DkmsSource:
    content = key.to_json() if isinstance(key, ClientKey) else key
    return DkmsSource(
        region_id="cn-hangzhou",
        endpoint=endpoint,
        client_key_content=content,
        password=password,
        protocol="http",
    )


def fetch(endpoint: str, key: ClientKey | str, name: str) -> SecretValue:
    return make_source(endpoint, key).get_secret_value(name)


def fetch_error(endpoint: str, key: ClientKey | str, name: str) -> SecretFetchError:
    with pytest.raises(SecretFetchError) as info:
        fetch(endpoint, key, name)
    return info.value


def signed_request(key: ClientKey, body: bytes) -> HttpRequest:
    """A request as the client signs it, for asking the service what the source never asks."""
    client_key = DkmsClientKey.from_json(key.to_json(), PASSWORD)
    headers = request_headers(client_key, host="dkms", body=body, date=http_date(0), agent="test")
    return HttpRequest("POST", "/", {name.lower(): value for name, value in headers}, body)


def test_client_key_repr_and_json_hide_nothing_they_should_not(client_key: ClientKey) -> None:
    assert client_key.private_key_data not in repr(client_key)
    assert client_key.key_id.startswith("KAAP.")
    assert json.loads(client_key.to_json()) == {
        "KeyId": client_key.key_id,
        "PrivateKeyData": client_key.private_key_data,
    }


def test_get_secret_value_returns_all_fields(state: CloudState, endpoint: str, client_key: ClientKey) -> None:
    secret = state.create_ram_secret("app-ak", rotation_interval_seconds=86400)

    reply = fetch(endpoint, client_key, "app-ak")

    assert reply.secret_name == "app-ak"
    assert reply.secret_data == secret.current.secret_data
    assert reply.version_id == secret.current.version_id
    assert reply.version_stages == ("ACSCurrent",)
    assert reply.secret_type == "RAMCredentials"
    assert reply.automatic_rotation == "Enabled"
    assert reply.rotation_interval == "86400s"
    assert json.loads(reply.extended_config)["SecretSubType"] == "RamUserAccessKey"
    assert reply.request_id
    assert state.count("dkms", "GetSecretValue", client_key.key_id) == 1


def test_previous_version_by_stage_and_by_id(
    state: CloudState, dkms: DkmsService, client_key: ClientKey
) -> None:
    state.create_ram_secret("app-ak")
    first = state.get_secret("app-ak")
    assert first is not None
    old_data, old_id = first.current.secret_data, first.current.version_id
    state.rotate("app-ak", grace_seconds=60)

    by_stage = encode_get_secret_value_request("app-ak", version_stage="ACSPrevious")
    by_id = encode_get_secret_value_request("app-ak", version_id=old_id)

    for body in (by_stage, by_id):
        response = dkms.handle(signed_request(client_key, body))
        assert response.status == 200
        reply = decode_secret_reply(response.body)
        assert (reply.secret_data, reply.version_stages, reply.extended_config) == (
            old_data,
            ("ACSPrevious",),
            "",  # FetchExtendedConfig was not asked for
        )


def test_missing_secret_is_resource_not_found(endpoint: str, client_key: ClientKey) -> None:
    error = fetch_error(endpoint, client_key, "nope")
    assert (error.code, error.http_status) == ("Forbidden.ResourceNotFound", 404)


def test_unknown_and_revoked_key_ids_are_unauthorized(
    state: CloudState, dkms: DkmsService, endpoint: str, client_key: ClientKey
) -> None:
    state.create_generic_secret("plain", "hello")
    stranger = DkmsService(state).issue_client_key(PASSWORD)  # registered with another gateway
    error = fetch_error(endpoint, stranger, "plain")
    assert (error.code, error.http_status) == ("Unauthorized", 401)

    source = make_source(endpoint, client_key)
    assert source.get_secret_value("plain").secret_data == "hello"
    dkms.revoke_client_key(client_key.key_id)
    with pytest.raises(SecretFetchError, match="Unauthorized"):
        source.get_secret_value("plain")


def test_signature_by_another_private_key_is_rejected(
    state: CloudState, dkms: DkmsService, endpoint: str, client_key: ClientKey
) -> None:
    state.create_generic_secret("plain", "hello")
    other = dkms.issue_client_key(PASSWORD)
    forged = json.dumps({"KeyId": client_key.key_id, "PrivateKeyData": other.private_key_data})
    assert fetch_error(endpoint, forged, "plain").code == "Unauthorized"


def test_issued_keys_are_sealed_with_their_password(endpoint: str, client_key: ClientKey) -> None:
    with pytest.raises(SecretFetchError) as info:
        make_source(endpoint, client_key, password="wrong")
    assert info.value.code == "SDK.InvalidClientKey"


def test_internal_failure_is_answered_once(state: CloudState, endpoint: str, client_key: ClientKey) -> None:
    state.faults["dkms"].add(Fault("status", status=500, code="InternalFailure"), count=5)
    error = fetch_error(endpoint, client_key, "plain")
    assert (error.code, error.http_status, error.retryable) == ("InternalFailure", 500, True)
    assert state.count("dkms") == 1  # failover, not the source, decides about another attempt


def _error_of(response: HttpResponse) -> tuple[int, str]:
    error = decode_error(response.body)
    assert error.status_code == response.status
    return response.status, error.error_code


def test_unsigned_and_malformed_requests(dkms: DkmsService, client_key: ClientKey) -> None:
    assert _error_of(dkms.handle(HttpRequest("POST", "/", {}, b""))) == (400, "MissingParameter")
    headers = {
        "x-kms-apiversion": "dkms-gcs-0.2",
        "x-kms-apiname": "GetSecretValue",
        "x-kms-signaturemethod": "RSA_PKCS1_SHA_256",
        "x-kms-acccesskeyid": "KAAP.unknown",
        "date": "Mon, 23 Nov 2026 11:51:55 GMT",
        "authorization": "Basic abc",
    }
    assert _error_of(dkms.handle(HttpRequest("POST", "/", headers, b""))) == (400, "InvalidParam")
    headers["authorization"] = "Bearer AAAA"
    assert _error_of(dkms.handle(HttpRequest("POST", "/", headers, b""))) == (401, "Unauthorized")
    assert dkms.handle(HttpRequest("POST", "/", headers, b"")).action == "GetSecretValue"
    # Validly signed bodies that are not a GetSecretValueRequest, or name no secret.
    assert _error_of(dkms.handle(signed_request(client_key, b"\x0a\xff"))) == (400, "InvalidRequestBody")
    assert _error_of(dkms.handle(signed_request(client_key, b""))) == (400, "MissingParameter")


def test_error_and_garbage_responses(dkms: DkmsService) -> None:
    response = dkms.error_response(400, "Rejected.Throttling", "slow down")
    error = decode_error(response.body)
    assert (error.error_code, error.error_message, error.status_code) == (
        "Rejected.Throttling",
        "slow down",
        400,
    )
    assert error.request_id
    with pytest.raises(SecretFetchError) as info:
        decode_secret_reply(dkms.garbage_response().body)
    assert info.value.code == "SDK.InvalidResponse"


def test_the_emulator_shares_no_codec_or_signer_with_the_product() -> None:
    """The emulator depends on nothing of the product but its clock and masking, so that one codec or
    signing bug cannot hide on both sides of a test."""
    testing = Path(__file__).resolve().parent.parent / "common_plugin" / "testing"
    imported: set[str] = set()
    for path in testing.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 2:
                imported.add(f"common_plugin.{node.module}" if node.module else "common_plugin")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("common_plugin"):
                imported.add(str(node.module))
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names if alias.name.startswith("common_plugin"))
    assert imported == {"common_plugin.clock", "common_plugin.masking"}

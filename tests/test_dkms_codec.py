"""The DKMS protobuf codec: round trips through the emulator's independent codec, and hostile bytes.

The reference environment (``tests/dkms_reference``) checks the same decoder against the protobuf
runtime; here it is held to the emulator's own reader/writer and to inputs built by hand.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common_plugin.exceptions import SecretFetchError
from common_plugin.sources.dkms_codec import (
    MAX_MESSAGE_BYTES,
    ErrorReply,
    SecretReply,
    decode_error,
    decode_secret_reply,
    encode_get_secret_value_request,
)
from common_plugin.testing import protobuf_wire

REPLY_NAMES = {
    "SecretName": "secret_name",
    "SecretType": "secret_type",
    "SecretData": "secret_data",
    "SecretDataType": "secret_data_type",
    "VersionId": "version_id",
    "CreateTime": "create_time",
    "RequestId": "request_id",
    "LastRotationDate": "last_rotation_date",
    "NextRotationDate": "next_rotation_date",
    "ExtendedConfig": "extended_config",
    "AutomaticRotation": "automatic_rotation",
    "RotationInterval": "rotation_interval",
}
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _string(number: int, text: str) -> bytes:
    data = text.encode()
    return _key(number, 2) + _varint(len(data)) + data


def test_the_documented_request_body() -> None:
    body = encode_get_secret_value_request("db-pass", version_stage="ACSCurrent", fetch_extended_config=True)
    assert body.hex() == "0a0764622d70617373120a41435343757272656e742001"
    assert encode_get_secret_value_request("") == b""  # proto3: unset fields are not written


@given(name=texts, stage=texts, version=texts, flag=st.booleans())
def test_requests_read_back_by_the_emulator(name: str, stage: str, version: str, flag: bool) -> None:
    body = encode_get_secret_value_request(
        name, version_stage=stage, version_id=version, fetch_extended_config=flag
    )
    assert protobuf_wire.parse(protobuf_wire.GET_SECRET_VALUE_REQUEST, body) == {
        "SecretName": name,
        "VersionStage": stage,
        "VersionId": version,
        "FetchExtendedConfig": flag,
    }


@given(values=st.fixed_dictionaries({}, optional=dict.fromkeys(REPLY_NAMES, texts)), stages=st.lists(texts))
def test_replies_written_by_the_emulator(values: dict[str, str], stages: list[str]) -> None:
    body = protobuf_wire.serialize(
        protobuf_wire.GET_SECRET_VALUE_RESPONSE, {**values, "VersionStages": stages}
    )
    expected = SecretReply(
        version_stages=tuple(stages), **{REPLY_NAMES[name]: value for name, value in values.items()}
    )
    assert decode_secret_reply(body) == expected


@given(status=st.integers(-(2**31), 2**31 - 1), code=texts, message=texts, request_id=texts)
def test_errors_written_by_the_emulator(status: int, code: str, message: str, request_id: str) -> None:
    body = protobuf_wire.serialize(
        protobuf_wire.ERROR,
        {"StatusCode": status, "ErrorCode": code, "ErrorMessage": message, "RequestId": request_id},
    )
    assert decode_error(body) == ErrorReply(status, code, message, request_id)


UNKNOWN_FIELDS = [
    _key(20, 0) + _varint(2**64 - 1),  # a ten-byte varint
    _key(21, 1) + bytes(8),
    _key(22, 2) + _varint(3) + b"abc",
    _key(23, 5) + bytes(4),
    _key(24, 3) + _string(1, "inside a group") + _key(25, 3) + _key(25, 4) + _key(24, 4),
    _key(2**29 - 1, 2) + _varint(0),  # the largest field number
    _key(3, 0) + _varint(7),  # SecretData's number with the wrong wire type: an unknown field
    _key(5, 5) + bytes(4),  # VersionStages' number, fixed32
]


@pytest.mark.parametrize("unknown", UNKNOWN_FIELDS)
def test_unknown_fields_of_every_wire_type_are_skipped(unknown: bytes) -> None:
    body = unknown + _string(3, "data") + unknown + _string(5, "ACSCurrent") + unknown
    reply = decode_secret_reply(body)
    assert (reply.secret_data, reply.version_stages) == ("data", ("ACSCurrent",))
    error = decode_error(unknown + _string(2, "Forbidden.ResourceNotFound") + unknown)
    assert error.error_code == "Forbidden.ResourceNotFound"


def test_the_last_value_wins_and_repeated_fields_add_up() -> None:
    body = _string(1, "old") + _string(5, "a") + _string(1, "new") + _string(5, "b")
    reply = decode_secret_reply(body)
    assert (reply.secret_name, reply.version_stages) == ("new", ("a", "b"))


def test_int32_keeps_the_low_32_bits_signed() -> None:
    assert decode_error(_key(1, 0) + _varint(2**64 - 1)).status_code == -1
    assert decode_error(_key(1, 0) + _varint(2**32 + 404)).status_code == 404
    assert decode_error(_key(1, 0) + _varint(2**31)).status_code == -(2**31)


MALFORMED = {
    "truncated string": _key(3, 2) + _varint(10) + b"short",
    "truncated varint": _key(20, 0) + b"\xff",
    "truncated key": b"\x80",
    "eleven-byte varint": _key(20, 0) + b"\xff" * 10 + b"\x01",
    "truncated fixed64": _key(21, 1) + bytes(7),
    "truncated fixed32": _key(23, 5) + bytes(3),
    "field number 0": _key(0, 2) + _varint(0),
    "wire type 6": _key(20, 6),
    "wire type 7": _key(20, 7),
    "stray end-group": _key(20, 4),
    "end-group of another field": _key(20, 3) + _key(21, 4),
    "unterminated group": _key(20, 3) + _string(1, "x"),
    "invalid UTF-8": _key(3, 2) + _varint(2) + b"\xc3\x28",
    "the emulator's garbage fault": b"\x0a\xff\xff\x03garbage",
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_bodies_are_invalid_responses(body: bytes) -> None:
    for decode in (decode_secret_reply, decode_error):
        with pytest.raises(SecretFetchError) as info:
            decode(body)
        assert info.value.code == "SDK.InvalidResponse" and info.value.retryable


def test_deep_groups_cannot_exhaust_the_stack() -> None:
    depth = 200_000  # far past Python's recursion limit
    body = _key(20, 3) * depth + _key(20, 4) * depth
    with pytest.raises(SecretFetchError, match="nested too deeply"):
        decode_secret_reply(body)
    nested = _key(20, 3) * 100 + _key(20, 4) * 100 + _string(1, "ok")  # the runtime's limit is fine
    assert decode_secret_reply(nested).secret_name == "ok"


def test_a_body_over_the_limit_is_refused_unread() -> None:
    body = _string(3, "x" * MAX_MESSAGE_BYTES)
    with pytest.raises(SecretFetchError, match="exceeds"):
        decode_secret_reply(body)


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_any_bytes_decode_or_fail_as_invalid_responses(body: bytes) -> None:
    for decode in (decode_secret_reply, decode_error):
        try:
            decode(body)
        except SecretFetchError as exc:
            assert exc.code == "SDK.InvalidResponse"


def test_secret_data_stays_out_of_repr() -> None:
    reply = decode_secret_reply(_string(3, "hunter2-secret-value"))
    assert "hunter2" not in repr(reply)

"""The three protobuf messages of DKMS ``GetSecretValue``, encoded and decoded by hand (private).

Only what the protocol needs (docs/protocols.md, "DKMS messages"): proto3 ``string``, ``bool``,
``int32`` and ``repeated string`` fields at the top level of three flat messages. Decoding is one
loop over the fields, never recursive: a group (wire types 3 and 4) of an unknown field is skipped
with a depth counter, so no input can exhaust the stack. Unknown fields of every wire type are
skipped, a known field number arriving with another wire type is skipped too (what the protobuf
runtime does), a repeated singular field keeps its last value, and ``int32`` keeps the low 32 bits.
Anything malformed (truncated, a varint over 10 bytes, field number 0, wire type 6/7, an end-group
that does not close the open group, invalid UTF-8, a body over :data:`MAX_MESSAGE_BYTES`) raises
:class:`SecretFetchError` with code ``SDK.InvalidResponse``.

Thread-safety: pure functions over immutable values.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ..exceptions import SecretFetchError

__all__ = [
    "MAX_MESSAGE_BYTES",
    "ErrorReply",
    "SecretReply",
    "decode_error",
    "decode_secret_reply",
    "encode_get_secret_value_request",
]

MAX_MESSAGE_BYTES = 1 << 20
"""The largest reply body decoded (1 MiB): a secret value is at most tens of KiB."""
_MAX_GROUP_DEPTH = 100  # the protobuf runtime's default recursion limit
_MAX_VARINT_BYTES = 10

_VARINT, _FIXED64, _BYTES, _START_GROUP, _END_GROUP, _FIXED32 = 0, 1, 2, 3, 4, 5

# GetSecretValueResponse: field number -> attribute of SecretReply (all strings; 5 is repeated).
_SECRET_REPLY_FIELDS = {
    1: "secret_name",
    2: "secret_type",
    3: "secret_data",
    4: "secret_data_type",
    6: "version_id",
    7: "create_time",
    8: "request_id",
    9: "last_rotation_date",
    10: "next_rotation_date",
    11: "extended_config",
    12: "automatic_rotation",
    13: "rotation_interval",
}
_VERSION_STAGES = 5
# Error: 1 StatusCode (int32), 2 ErrorCode, 3 ErrorMessage, 4 RequestId.
_ERROR_STRING_FIELDS = {2: "error_code", 3: "error_message", 4: "request_id"}
_STATUS_CODE = 1


@dataclass(frozen=True)
class SecretReply:
    """A decoded ``GetSecretValueResponse``; absent fields are empty, as in proto3."""

    secret_name: str = ""
    secret_type: str = ""
    secret_data: str = field(default="", repr=False)
    secret_data_type: str = ""
    version_stages: tuple[str, ...] = ()
    version_id: str = ""
    create_time: str = ""
    request_id: str = ""
    last_rotation_date: str = ""
    next_rotation_date: str = ""
    extended_config: str = ""
    automatic_rotation: str = ""
    rotation_interval: str = ""


@dataclass(frozen=True)
class ErrorReply:
    """A decoded ``Error`` (the body of every 4xx/5xx answer)."""

    status_code: int = 0
    error_code: str = ""
    error_message: str = ""
    request_id: str = ""


class _Malformed(Exception):
    """Internal: why a body is not a valid message (the text never holds body bytes)."""


# ---- encoding --------------------------------------------------------------------------------------
def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _string_field(number: int, value: str) -> bytes:
    data = value.encode("utf-8")
    return _varint(number << 3 | _BYTES) + _varint(len(data)) + data


def encode_get_secret_value_request(
    secret_name: str,
    *,
    version_stage: str = "",
    version_id: str = "",
    fetch_extended_config: bool = False,
) -> bytes:
    """Serialise a ``GetSecretValueRequest``: fields 1-4 in order, each only when set (proto3)."""
    parts = []
    for number, value in ((1, secret_name), (2, version_stage), (3, version_id)):
        if value:
            parts.append(_string_field(number, value))
    if fetch_extended_config:
        parts.append(_varint(4 << 3 | _VARINT) + b"\x01")
    return b"".join(parts)


# ---- decoding --------------------------------------------------------------------------------------
def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    for index in range(_MAX_VARINT_BYTES):
        if pos >= len(data):
            raise _Malformed("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return result & 0xFFFF_FFFF_FFFF_FFFF, pos
    raise _Malformed("varint longer than 10 bytes")


def _fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield ``(number, wire_type, value)`` for each top-level field; groups are skipped, not yielded.

    ``value`` is the integer of a varint, or the raw bytes of a fixed-size or length-delimited
    field. Open groups are tracked as a stack of field numbers, so nesting costs no recursion.
    """
    pos = 0
    groups: list[int] = []
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise _Malformed("field number 0")
        if wire_type == _START_GROUP:
            if len(groups) >= _MAX_GROUP_DEPTH:
                raise _Malformed("groups nested too deeply")
            groups.append(number)
            continue
        if wire_type == _END_GROUP:
            if not groups or groups.pop() != number:
                raise _Malformed("unmatched end-group tag")
            continue
        value: int | bytes
        if wire_type == _VARINT:
            value, pos = _read_varint(data, pos)
        elif wire_type == _BYTES:
            length, start = _read_varint(data, pos)
            pos = start + length
            value = data[start:pos]
        elif wire_type in (_FIXED64, _FIXED32):
            start, pos = pos, pos + (8 if wire_type == _FIXED64 else 4)
            value = data[start:pos]
        else:
            raise _Malformed(f"invalid wire type {wire_type}")
        if pos > len(data):
            raise _Malformed("truncated field")
        if not groups:  # inside an unknown field's group nothing is ours
            yield number, wire_type, value
    if groups:
        raise _Malformed("truncated group")


def _text(value: int | bytes) -> str:
    assert isinstance(value, bytes)  # noqa: S101 - callers pass length-delimited values only
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise _Malformed("a string field is not valid UTF-8") from None


def _checked(data: bytes) -> bytes:
    if len(data) > MAX_MESSAGE_BYTES:
        raise _Malformed(f"body of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    return bytes(data)


def _invalid(message: str, reason: _Malformed) -> SecretFetchError:
    return SecretFetchError(f"{message}: {reason}", code="SDK.InvalidResponse", retryable=True)


def decode_secret_reply(body: bytes) -> SecretReply:
    """Parse a ``GetSecretValueResponse``.

    Raises:
        SecretFetchError: ``SDK.InvalidResponse`` (retryable) when ``body`` is not one.
    """
    values: dict[str, str] = {}
    stages: list[str] = []
    try:
        for number, wire_type, value in _fields(_checked(body)):
            if wire_type != _BYTES:
                continue  # a known number with another wire type is an unknown field
            if number == _VERSION_STAGES:
                stages.append(_text(value))
            elif number in _SECRET_REPLY_FIELDS:
                values[_SECRET_REPLY_FIELDS[number]] = _text(value)
    except _Malformed as reason:
        raise _invalid("not a GetSecretValueResponse", reason) from None
    return SecretReply(version_stages=tuple(stages), **values)


def decode_error(body: bytes) -> ErrorReply:
    """Parse an ``Error``.

    Raises:
        SecretFetchError: ``SDK.InvalidResponse`` (retryable) when ``body`` is not one.
    """
    status = 0
    values: dict[str, str] = {}
    try:
        for number, wire_type, value in _fields(_checked(body)):
            if number == _STATUS_CODE and wire_type == _VARINT:
                assert isinstance(value, int)  # noqa: S101 - a varint field
                low = value & 0xFFFF_FFFF
                status = low - (1 << 32) if low & 0x8000_0000 else low
            elif number in _ERROR_STRING_FIELDS and wire_type == _BYTES:
                values[_ERROR_STRING_FIELDS[number]] = _text(value)
    except _Malformed as reason:
        raise _invalid("not a DKMS Error message", reason) from None
    return ErrorReply(status_code=status, **values)

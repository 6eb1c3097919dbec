"""A schema-driven protobuf (proto3) reader and writer for the emulated DKMS service.

Written apart from the product's DKMS codec and shaped differently on purpose (a schema table and a
cursor object here, a field loop there), so that one misreading of the wire format cannot hide on
both sides of a test; the reference environment (``tests/dkms_reference``) also checks this module
against the protobuf runtime's generated classes.

Supported kinds: ``string``, ``bool``, ``int32`` and ``repeated string``, which is all the DKMS
GetSecretValue messages use. Unknown fields of any wire type (groups included, nested up to
:data:`MAX_GROUP_DEPTH`) are skipped.

Thread-safety: pure functions; a :class:`_Cursor` is used by one call only.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "ERROR",
    "GET_SECRET_VALUE_REQUEST",
    "GET_SECRET_VALUE_RESPONSE",
    "MAX_GROUP_DEPTH",
    "Schema",
    "WireFormatError",
    "parse",
    "serialize",
]

Schema = Mapping[str, tuple[int, str]]
"""Field name -> (field number, kind)."""

GET_SECRET_VALUE_REQUEST: Schema = {
    "SecretName": (1, "string"),
    "VersionStage": (2, "string"),
    "VersionId": (3, "string"),
    "FetchExtendedConfig": (4, "bool"),
}
GET_SECRET_VALUE_RESPONSE: Schema = {
    "SecretName": (1, "string"),
    "SecretType": (2, "string"),
    "SecretData": (3, "string"),
    "SecretDataType": (4, "string"),
    "VersionStages": (5, "repeated string"),
    "VersionId": (6, "string"),
    "CreateTime": (7, "string"),
    "RequestId": (8, "string"),
    "LastRotationDate": (9, "string"),
    "NextRotationDate": (10, "string"),
    "ExtendedConfig": (11, "string"),
    "AutomaticRotation": (12, "string"),
    "RotationInterval": (13, "string"),
}
ERROR: Schema = {
    "StatusCode": (1, "int32"),
    "ErrorCode": (2, "string"),
    "ErrorMessage": (3, "string"),
    "RequestId": (4, "string"),
}
MAX_GROUP_DEPTH = 32

_WIRE_TYPE = {"string": 2, "repeated string": 2, "bool": 0, "int32": 0}
_DEFAULTS: dict[str, object] = {"string": "", "bool": False, "int32": 0}


class WireFormatError(ValueError):
    """The bytes are not a valid message of the schema."""


def _put_varint(out: bytearray, value: int) -> None:
    value &= (1 << 64) - 1  # negative int32 values take ten bytes, two's complement
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return


def serialize(schema: Schema, values: Mapping[str, object]) -> bytes:
    """Encode ``values`` (a subset of the schema's names) in field-number order, defaults left out."""
    unknown = set(values) - set(schema)
    if unknown:
        raise KeyError(f"not in the schema: {sorted(unknown)}")
    out = bytearray()
    for name, (number, kind) in sorted(schema.items(), key=lambda item: item[1][0]):
        value = values.get(name)
        items: list[object]
        if kind == "repeated string":
            items = [str(item) for item in value] if isinstance(value, (list, tuple)) else []
        else:
            items = [value] if value is not None and value != _DEFAULTS[kind] else []
        for item in items:
            _put_varint(out, number << 3 | _WIRE_TYPE[kind])
            if isinstance(item, str):
                data = item.encode("utf-8")
                _put_varint(out, len(data))
                out += data
            elif isinstance(item, (bool, int)):
                _put_varint(out, int(item))
            else:
                raise TypeError(f"{name}: {type(item).__name__} is not a {kind}")
    return bytes(out)


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def varint(self) -> int:
        value = shift = 0
        while True:
            if self.at_end():
                raise WireFormatError("truncated varint")
            if shift >= 70:
                raise WireFormatError("varint too long")
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value & ((1 << 64) - 1)

    def take(self, count: int) -> bytes:
        if count > len(self.data) - self.pos:
            raise WireFormatError("truncated field")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def skip(self, wire_type: int, number: int, depth: int = 0) -> None:
        if wire_type == 0:
            self.varint()
        elif wire_type == 1:
            self.take(8)
        elif wire_type == 2:
            self.take(self.varint())
        elif wire_type == 5:
            self.take(4)
        elif wire_type == 3:
            if depth >= MAX_GROUP_DEPTH:
                raise WireFormatError("groups nested too deeply")
            while True:
                if self.at_end():
                    raise WireFormatError("unterminated group")
                key = self.varint()
                if key & 7 == 4:
                    if key >> 3 != number:
                        raise WireFormatError("mismatched end-group")
                    return
                self.skip(key & 7, key >> 3, depth + 1)
        else:
            raise WireFormatError(f"unexpected wire type {wire_type}")


def parse(schema: Schema, data: bytes) -> dict[str, object]:
    """Decode ``data``: every schema name is present (proto3 defaults for absent fields).

    Raises:
        WireFormatError: truncated or malformed input, or a string that is not UTF-8.
    """
    by_number = {number: (name, kind) for name, (number, kind) in schema.items()}
    result: dict[str, object] = {
        name: [] if kind == "repeated string" else _DEFAULTS[kind] for name, (_n, kind) in schema.items()
    }
    cursor = _Cursor(bytes(data))
    while not cursor.at_end():
        key = cursor.varint()
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise WireFormatError("field number 0")
        if wire_type == 4:
            raise WireFormatError("end-group outside a group")
        known = by_number.get(number)
        if known is None or _WIRE_TYPE[known[1]] != wire_type:
            cursor.skip(wire_type, number)
            continue
        name, kind = known
        if wire_type == 2:
            try:
                text = cursor.take(cursor.varint()).decode("utf-8")
            except UnicodeDecodeError:
                raise WireFormatError(f"{name} is not UTF-8") from None
            if kind == "repeated string":
                stages = result[name]
                assert isinstance(stages, list)  # noqa: S101 - built above
                stages.append(text)
            else:
                result[name] = text
        elif kind == "bool":
            result[name] = cursor.varint() != 0
        else:  # int32: the low 32 bits, signed
            low = cursor.varint() & 0xFFFFFFFF
            result[name] = low - (1 << 32) if low >= 1 << 31 else low
    return result

"""Two small decoders the emulated Log Service needs, written from their specs for the emulator alone.

* :func:`protobuf_fields`: the protobuf wire format (varint, 64-bit, length-delimited and 32-bit
  fields); :func:`decode_log_group` reads Log Service's ``LogGroup`` with it (field numbers in
  docs/protocols.md section 4).
* :func:`lz4_block_decompress`: the LZ4 *block* format (no frame header, no size prefix), which
  ``aliyun-log-python-sdk`` sends when ``x-log-compresstype: lz4``.

Neither imports the SDK's generated ``*_pb2`` modules nor its ``lz4`` binding, so a bug in the client's
codec cannot be hidden by the same bug here. Pure functions; thread-safe.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = [
    "DecodeError",
    "LogGroupRecord",
    "LogRecord",
    "decode_log_group",
    "lz4_block_decompress",
    "protobuf_fields",
]


class DecodeError(ValueError):
    """The bytes are not a valid message of the expected format."""


def _varint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if offset >= len(data):
            raise DecodeError("a varint runs past the end of the message")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7
        if shift > 63:
            raise DecodeError("a varint is longer than 10 bytes")


def protobuf_fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """``(field number, wire type, value)`` for each field of one message, in order.

    Varints and fixed-width fields come back as ``int`` (fixed ones unsigned, little-endian);
    length-delimited fields as ``bytes``. Groups (wire types 3 and 4) are refused.
    """
    offset = 0
    while offset < len(data):
        key, offset = _varint(data, offset)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise DecodeError("field number 0")
        value: int | bytes
        if wire_type == 0:
            value, offset = _varint(data, offset)
        elif wire_type == 1:
            if offset + 8 > len(data):
                raise DecodeError("a 64-bit field runs past the end of the message")
            (value,) = struct.unpack_from("<Q", data, offset)
            offset += 8
        elif wire_type == 2:
            length, offset = _varint(data, offset)
            if offset + length > len(data):
                raise DecodeError("a length-delimited field runs past the end of the message")
            value = data[offset : offset + length]
            offset += length
        elif wire_type == 5:
            if offset + 4 > len(data):
                raise DecodeError("a 32-bit field runs past the end of the message")
            (value,) = struct.unpack_from("<I", data, offset)
            offset += 4
        else:
            raise DecodeError(f"unsupported wire type {wire_type}")
        yield number, wire_type, value


@dataclass
class LogRecord:
    """One ``Log`` of a ``LogGroup``: seconds, the nanosecond part, and its key/value contents."""

    time: int = 0
    time_ns: int | None = None
    contents: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class LogGroupRecord:
    """A decoded ``LogGroup``."""

    logs: list[LogRecord] = field(default_factory=list)
    topic: str = ""
    source: str = ""
    tags: list[tuple[str, str]] = field(default_factory=list)


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise DecodeError("a string field has a numeric wire type")
    return value.decode("utf-8", "replace")


def _pair(data: int | bytes) -> tuple[str, str]:
    """``Content`` / ``LogTag``: Key = 1, Value = 2 (both required)."""
    if not isinstance(data, bytes):
        raise DecodeError("a nested message has a numeric wire type")
    key: str | None = None
    value: str | None = None
    for number, _, raw in protobuf_fields(data):
        if number == 1:
            key = _text(raw)
        elif number == 2:
            value = _text(raw)
    if key is None or value is None:
        raise DecodeError("a Content or LogTag lacks its Key or Value")
    return key, value


def _log(data: int | bytes) -> LogRecord:
    """``Log``: Time = 1 (uint32, required), Contents = 2 (repeated), Time_ns = 4 (fixed32)."""
    if not isinstance(data, bytes):
        raise DecodeError("a Log has a numeric wire type")
    record = LogRecord()
    seen_time = False
    for number, wire_type, raw in protobuf_fields(data):
        if number == 1 and wire_type == 0 and isinstance(raw, int):
            record.time, seen_time = raw, True
        elif number == 2:
            record.contents.append(_pair(raw))
        elif number == 4 and wire_type == 5 and isinstance(raw, int):
            record.time_ns = raw
    if not seen_time:
        raise DecodeError("a Log lacks its Time")
    return record


def decode_log_group(data: bytes) -> LogGroupRecord:
    """``LogGroup``: Logs = 1, Reserved = 2, Topic = 3, Source = 4, MachineUUID = 5, LogTags = 6.

    Raises:
        DecodeError: the bytes are not a ``LogGroup``.
    """
    group = LogGroupRecord()
    for number, _, raw in protobuf_fields(data):
        if number == 1:
            group.logs.append(_log(raw))
        elif number == 3:
            group.topic = _text(raw)
        elif number == 4:
            group.source = _text(raw)
        elif number == 6:
            group.tags.append(_pair(raw))
    return group


def _extended_length(data: bytes, offset: int, length: int) -> tuple[int, int]:
    """A 4-bit length of 15 continues in bytes of 255 until one below 255."""
    if length != 15:
        return length, offset
    while True:
        if offset >= len(data):
            raise DecodeError("an LZ4 length runs past the end of the block")
        byte = data[offset]
        offset += 1
        length += byte
        if byte != 255:
            return length, offset


def lz4_block_decompress(data: bytes, uncompressed_size: int) -> bytes:
    """Decode one LZ4 block into exactly ``uncompressed_size`` bytes.

    A block is a run of sequences: a token (literal length in the high nibble, match length minus 4
    in the low one), the literal bytes, then a little-endian 2-byte offset back into the output and
    the match, which may overlap what it copies. The last sequence has literals only.

    Raises:
        DecodeError: a malformed block, or one that does not decode to ``uncompressed_size`` bytes.
    """
    out = bytearray()
    offset = 0
    while offset < len(data):
        token = data[offset]
        offset += 1
        literals, offset = _extended_length(data, offset, token >> 4)
        if offset + literals > len(data):
            raise DecodeError("LZ4 literals run past the end of the block")
        out += data[offset : offset + literals]
        offset += literals
        if offset == len(data):
            break  # the last sequence
        if offset + 2 > len(data):
            raise DecodeError("an LZ4 match offset runs past the end of the block")
        distance = data[offset] | (data[offset + 1] << 8)
        offset += 2
        if distance == 0 or distance > len(out):
            raise DecodeError("an LZ4 match points outside the output")
        match, offset = _extended_length(data, offset, token & 0x0F)
        match += 4
        start = len(out) - distance
        for index in range(match):  # byte by byte: a match may overlap its own output
            out.append(out[start + index])
        if len(out) > uncompressed_size:
            raise DecodeError("the LZ4 block decodes to more than x-log-bodyrawsize")
    if len(out) != uncompressed_size:
        raise DecodeError(f"the LZ4 block decodes to {len(out)} bytes, not {uncompressed_size}")
    return bytes(out)

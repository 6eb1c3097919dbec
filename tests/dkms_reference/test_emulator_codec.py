"""The emulator's own protobuf codec (``common_plugin.testing.protobuf_wire``) against dkms-gcs's
generated ``api_pb2``: the same bytes out, the same values in, for all three DKMS messages."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_util.protobuf import api_pb2
from test_decoding import error_bodies, reply_bodies

from common_plugin.testing import protobuf_wire

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
int32 = st.integers(-(2**31), 2**31 - 1)
MESSAGES: list[tuple[Any, protobuf_wire.Schema]] = [
    (api_pb2.GetSecretValueRequest, protobuf_wire.GET_SECRET_VALUE_REQUEST),
    (api_pb2.GetSecretValueResponse, protobuf_wire.GET_SECRET_VALUE_RESPONSE),
    (api_pb2.Error, protobuf_wire.ERROR),
]


def _values(schema: protobuf_wire.Schema) -> st.SearchStrategy[dict[str, object]]:
    kinds = {
        "string": text,
        "bool": st.booleans(),
        "int32": int32,
        "repeated string": st.lists(text, max_size=4),
    }
    return st.fixed_dictionaries({}, optional={name: kinds[kind] for name, (_n, kind) in schema.items()})


def _runtime_values(message: Any, schema: protobuf_wire.Schema) -> dict[str, object]:
    return {
        name: list(getattr(message, name)) if kind == "repeated string" else getattr(message, name)
        for name, (_n, kind) in schema.items()
    }


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_the_emulator_writes_what_the_runtime_writes(data: st.DataObject) -> None:
    cls, schema = data.draw(st.sampled_from(MESSAGES))
    values = data.draw(_values(schema))
    assert protobuf_wire.serialize(schema, values) == cls(**values).SerializeToString()


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_the_emulator_reads_what_the_runtime_writes(data: st.DataObject) -> None:
    cls, schema = data.draw(st.sampled_from(MESSAGES))
    message = cls(**data.draw(_values(schema)))
    assert protobuf_wire.parse(schema, message.SerializeToString()) == _runtime_values(message, schema)


def _both(cls: Any, schema: protobuf_wire.Schema, body: bytes) -> tuple[object, object]:
    try:
        message = cls()
        message.ParseFromString(body)
        theirs: object = _runtime_values(message, schema)
    except Exception:  # noqa: BLE001 - any rejection counts
        theirs = None
    try:
        ours: object = protobuf_wire.parse(schema, body)
    except protobuf_wire.WireFormatError:
        ours = None
    return ours, theirs


@settings(max_examples=500, deadline=None)
@given(reply_bodies)
def test_the_emulator_reads_replies_with_unknown_fields_as_the_runtime(body: bytes) -> None:
    ours, theirs = _both(api_pb2.GetSecretValueResponse, protobuf_wire.GET_SECRET_VALUE_RESPONSE, body)
    assert ours == theirs


@settings(max_examples=500, deadline=None)
@given(error_bodies)
def test_the_emulator_reads_errors_with_unknown_fields_as_the_runtime(body: bytes) -> None:
    ours, theirs = _both(api_pb2.Error, protobuf_wire.ERROR, body)
    assert ours == theirs

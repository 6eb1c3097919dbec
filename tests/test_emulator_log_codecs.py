"""The emulated Log Service's own decoders, checked against the SDK's encoders (lz4, protobuf), and
the shared rewind rule of the Log Service and MaxCompute adapters."""

from __future__ import annotations

import io
import os

import lz4.block
import pytest
from aliyun.log.proto import LogGroupRaw

from common_plugin.adapters.pinned import rewinder_for
from common_plugin.testing.wire_codecs import DecodeError, decode_log_group, lz4_block_decompress


@pytest.mark.parametrize(
    "data",
    [b"", b"a", b"abc" * 400, os.urandom(3000), (b"x" * 300 + os.urandom(17)) * 20],
    ids=["empty", "one", "repeats", "random", "mixed"],
)
def test_lz4_blocks_from_the_sdk_codec_decode(data: bytes) -> None:
    block = lz4.block.compress(data)[4:]  # as aliyun.log sends it: no size prefix
    assert lz4_block_decompress(block, len(data)) == data


def test_a_wrong_size_or_a_cut_block_is_refused() -> None:
    block = lz4.block.compress(b"hello " * 100)[4:]
    with pytest.raises(DecodeError, match="not 599"):
        lz4_block_decompress(block, 599)
    with pytest.raises(DecodeError):
        lz4_block_decompress(block[: len(block) // 2], 600)


def test_a_log_group_from_the_sdk_codec_decodes() -> None:
    group = LogGroupRaw()
    group.Topic, group.Source = "topic", "10.0.0.1"
    log = group.Logs.add()
    log.Time, log.Time_ns = 1_700_000_000, 123
    for key, value in (("message", "héllo"), ("level", "INFO")):
        content = log.Contents.add()
        content.Key, content.Value = key, value.encode()
    tag = group.LogTags.add()
    tag.Key, tag.Value = "env", "test"
    decoded = decode_log_group(group.SerializeToString())
    assert (decoded.topic, decoded.source, decoded.tags) == ("topic", "10.0.0.1", [("env", "test")])
    (record,) = decoded.logs
    assert (record.time, record.time_ns) == (1_700_000_000, 123)
    assert record.contents == [("message", "héllo"), ("level", "INFO")]
    with pytest.raises(DecodeError):
        decode_log_group(group.SerializeToString()[:-3])


class Pipe(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


def test_rewind_rule_for_request_bodies() -> None:
    assert rewinder_for(None) is None and rewinder_for(b"body") is None and rewinder_for("text") is None
    stream = io.BytesIO(b"0123456789")
    stream.seek(3)
    rewind = rewinder_for(stream)
    assert rewind is not None
    stream.read()
    assert rewind() is True and stream.tell() == 3
    pipe_rewind = rewinder_for(Pipe())
    assert pipe_rewind is not None and pipe_rewind() is False
    closed = io.BytesIO(b"x")
    closed_rewind = rewinder_for(closed)
    closed.close()
    assert closed_rewind is not None and closed_rewind() is False

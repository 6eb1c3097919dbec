"""The emulated OSS against the real ``oss2`` client: v1, v4 and STS signatures, objects, listings,
multipart and resumable transfers, and the error codes the credential wrappers react to."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import oss2
import pytest
from emulator_harness import serve
from oss2.exceptions import NoSuchBucket, NoSuchKey, NoSuchUpload, NotFound, ServerError
from oss2.models import PartInfo

from common_plugin.clock import ManualClock
from common_plugin.testing.oss import OssService
from common_plugin.testing.oss_signature import crc64_ecma
from common_plugin.testing.state import AccessKey, CloudState
from common_plugin.testing.wire import HttpRequest

BUCKET = "bkt"
AuthFactory = Callable[[AccessKey], oss2.ProviderAuth | oss2.ProviderAuthV4]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_800_000_000.0)


@pytest.fixture
def state(clock: ManualClock) -> CloudState:
    return CloudState(clock=clock, seed=1)


@pytest.fixture
def oss(state: CloudState) -> OssService:
    service = OssService(state)
    service.create_bucket(BUCKET)
    return service


@pytest.fixture
def endpoint(oss: OssService, state: CloudState) -> Iterator[str]:
    with serve(oss, state) as address:
        yield f"http://{address}"


def make_bucket(endpoint: str, auth: object, name: str = BUCKET) -> oss2.Bucket:
    return oss2.Bucket(auth, endpoint, name, region="cn-hangzhou")


def v1(key: AccessKey) -> oss2.Auth:
    return oss2.Auth(key.access_key_id, key.access_key_secret)


AUTHS: dict[str, Callable[[CloudState], object]] = {
    "v1": lambda state: v1(state.create_access_key()),
    "v4": lambda state: (lambda k: oss2.AuthV4(k.access_key_id, k.access_key_secret))(
        state.create_access_key()
    ),
    "sts": lambda state: (lambda k: oss2.StsAuth(k.access_key_id, k.access_key_secret, k.security_token))(
        state.create_access_key(with_sts_token=True)
    ),
}


@pytest.mark.parametrize("kind", sorted(AUTHS))
@pytest.mark.parametrize("key", ["a.txt", "dir/sub dir/ü.json", "weird +%&?=#.bin"])
def test_put_get_head_delete(state: CloudState, oss: OssService, endpoint: str, kind: str, key: str) -> None:
    bucket = make_bucket(endpoint, AUTHS[kind](state))
    data = os.urandom(3000)

    put = bucket.put_object(key, data, headers={"x-oss-meta-owner": "me"})
    assert put.etag and put.crc == crc64_ecma(data)
    assert bucket.get_object(key).read() == data
    head = bucket.head_object(key)
    assert (head.content_length, head.etag, head.server_crc) == (len(data), put.etag, put.crc)
    assert head.headers["x-oss-meta-owner"] == "me"
    assert bucket.get_object_meta(key).content_length == len(data)
    assert oss.object_keys(BUCKET) == [key]
    bucket.delete_object(key)
    with pytest.raises(NoSuchKey):
        bucket.get_object(key)
    assert state.count("oss", "PutObject") == 1


def test_range_copy_and_get_to_file(state: CloudState, endpoint: str, tmp_path: Path) -> None:
    bucket = make_bucket(endpoint, AUTHS["v1"](state))
    data = bytes(range(256)) * 4
    bucket.put_object("src.bin", data)

    ranged = bucket.get_object("src.bin", byte_range=(10, 19))
    assert (ranged.status, ranged.read()) == (206, data[10:20])
    assert bucket.get_object("src.bin", byte_range=(1000, None)).read() == data[1000:]
    assert bucket.get_object("src.bin", byte_range=(None, 5)).read() == data[-5:]

    copied = bucket.copy_object(BUCKET, "src.bin", "copy/dst.bin")
    assert copied.etag == bucket.head_object("src.bin").etag
    target = tmp_path / "out.bin"
    bucket.get_object_to_file("copy/dst.bin", str(target))
    assert target.read_bytes() == data
    assert bucket.object_exists("copy/dst.bin") and not bucket.object_exists("nope")


def test_crc64_matches_oss2() -> None:
    data = os.urandom(5000)
    reference = oss2.utils.Crc64()
    reference.update(data)
    assert crc64_ecma(data) == reference.crc
    assert crc64_ecma(data[2000:], crc64_ecma(data[:2000])) == reference.crc
    assert crc64_ecma(b"123456789") == 0x995DC9BBDF1939FA


# Sorted as OSS sorts: by UTF-8 bytes, so "é" comes after "z".
KEYS = ["a/1.txt", "a/2.txt", "a/b/3.txt", "c d.txt", "z.txt", "é/4.txt"]


@pytest.mark.parametrize("kind", ["v1", "v4"])
def test_list_v1_and_v2(state: CloudState, endpoint: str, kind: str) -> None:
    bucket = make_bucket(endpoint, AUTHS[kind](state))
    for key in KEYS:
        bucket.put_object(key, b"x")

    assert [o.key for o in oss2.ObjectIterator(bucket, max_keys=2)] == KEYS
    assert [o.key for o in oss2.ObjectIteratorV2(bucket, max_keys=2)] == KEYS
    top = bucket.list_objects(delimiter="/")
    assert [o.key for o in top.object_list] == ["c d.txt", "z.txt"]
    assert top.prefix_list == ["a/", "é/"]
    under_a = bucket.list_objects_v2(prefix="a/", delimiter="/")
    assert [o.key for o in under_a.object_list] == ["a/1.txt", "a/2.txt"]
    assert under_a.prefix_list == ["a/b/"]
    entries = [(e.key, e.is_prefix()) for e in oss2.ObjectIteratorV2(bucket, delimiter="/", max_keys=1)]
    assert entries == [("a/", True), ("c d.txt", False), ("z.txt", False), ("é/", True)]
    page = bucket.list_objects_v2(start_after="c d.txt", max_keys=10)
    assert [o.key for o in page.object_list] == ["z.txt", "é/4.txt"]
    first = page.object_list[0]
    assert (first.size, first.type, first.storage_class) == (1, "Normal", "Standard")


def test_multipart_upload(state: CloudState, endpoint: str) -> None:
    bucket = make_bucket(endpoint, AUTHS["v4"](state))
    chunks = [os.urandom(1000), os.urandom(1000), os.urandom(10)]
    upload_id = bucket.init_multipart_upload("big/file.bin").upload_id
    parts = [
        PartInfo(n, bucket.upload_part("big/file.bin", upload_id, n, chunk).etag)
        for n, chunk in enumerate(chunks, start=1)
    ]
    listed = bucket.list_parts("big/file.bin", upload_id)
    assert [(p.part_number, p.size) for p in listed.parts] == [(1, 1000), (2, 1000), (3, 10)]
    result = bucket.complete_multipart_upload("big/file.bin", upload_id, parts)
    assert result.crc == crc64_ecma(b"".join(chunks))
    assert bucket.get_object("big/file.bin").read() == b"".join(chunks)
    assert bucket.head_object("big/file.bin").object_type == "Multipart"

    aborted = bucket.init_multipart_upload("gone.bin").upload_id
    bucket.abort_multipart_upload("gone.bin", aborted)
    with pytest.raises(NoSuchUpload):
        bucket.upload_part("gone.bin", aborted, 1, b"x")


def test_resumable_upload_and_download(state: CloudState, endpoint: str, tmp_path: Path) -> None:
    bucket = make_bucket(endpoint, AUTHS["sts"](state))
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(300_000))
    oss2.resumable_upload(
        bucket,
        "resumable/data.bin",
        str(source),
        store=oss2.ResumableStore(root=str(tmp_path)),
        multipart_threshold=200_000,
        part_size=100 * 1024,  # oss2's minimum part size
        num_threads=2,
    )
    assert state.count("oss", "UploadPart") == 3
    assert bucket.head_object("resumable/data.bin").content_length == 300_000

    target = tmp_path / "target.bin"
    oss2.resumable_download(
        bucket,
        "resumable/data.bin",
        str(target),
        store=oss2.ResumableDownloadStore(root=str(tmp_path)),
        multiget_threshold=200_000,
        part_size=100 * 1024,  # oss2's minimum part size
        num_threads=2,
    )
    assert target.read_bytes() == source.read_bytes()
    assert state.count("oss", "GetObject") == 3


def error_of(call: Callable[[], object]) -> ServerError:
    with pytest.raises(ServerError) as info:
        call()
    return info.value


def test_credential_errors(state: CloudState, clock: ManualClock, endpoint: str) -> None:
    key = state.create_access_key()
    unknown = error_of(lambda: make_bucket(endpoint, oss2.Auth("LTAIunknown", "s")).get_object("k"))
    assert (unknown.status, unknown.code, unknown.ec) == (403, "InvalidAccessKeyId", "0002-00000902")
    assert unknown.request_id and unknown.details["OSSAccessKeyId"] == "LTAIunknown"

    wrong = error_of(lambda: make_bucket(endpoint, oss2.Auth(key.access_key_id, "nope")).get_object("k"))
    assert isinstance(wrong, oss2.exceptions.SignatureDoesNotMatch)
    assert wrong.ec == "0002-00000040" and "StringToSign" in wrong.details
    wrong4 = error_of(lambda: make_bucket(endpoint, oss2.AuthV4(key.access_key_id, "nope")).get_object("k"))
    assert wrong4.code == "SignatureDoesNotMatch"

    state.set_key_status(key.access_key_id, "Inactive")
    assert error_of(lambda: make_bucket(endpoint, v1(key)).get_object("k")).code == "InvalidAccessKeyId"

    sts = state.create_access_key(with_sts_token=True, token_ttl_seconds=60)
    forged = oss2.StsAuth(sts.access_key_id, sts.access_key_secret, "CAISforged")
    assert error_of(lambda: make_bucket(endpoint, forged).get_object("k")).code == "InvalidSecurityToken"
    clock.advance(61)
    good = oss2.StsAuth(sts.access_key_id, sts.access_key_secret, sts.security_token)
    assert error_of(lambda: make_bucket(endpoint, good).get_object("k")).code == "SecurityTokenExpired"


def test_rotated_key_is_rejected_after_grace(state: CloudState, clock: ManualClock, endpoint: str) -> None:
    state.create_ram_secret("oss-ak")
    old = state.current_key("oss-ak")
    bucket = make_bucket(endpoint, v1(old))
    bucket.put_object("k", b"v")
    state.rotate("oss-ak", grace_seconds=30)
    assert bucket.get_object("k").read() == b"v"
    clock.advance(30)
    assert error_of(lambda: bucket.get_object("k")).code == "InvalidAccessKeyId"
    assert make_bucket(endpoint, v1(state.current_key("oss-ak"))).get_object("k").read() == b"v"


def test_not_found_errors_and_buckets(state: CloudState, oss: OssService, endpoint: str) -> None:
    auth = AUTHS["v1"](state)
    bucket = make_bucket(endpoint, auth)
    assert error_of(lambda: bucket.get_object("missing")).details["Key"] == "missing"
    with pytest.raises(NotFound):
        bucket.head_object("missing")
    other = make_bucket(endpoint, auth, "other-bucket")
    with pytest.raises(NoSuchBucket):
        other.put_object("k", b"v")
    other.create_bucket()
    other.put_object("k", b"v")
    assert oss.object_keys("other-bucket") == ["k"]
    with pytest.raises(ServerError) as info:
        other.delete_bucket()
    assert info.value.code == "BucketNotEmpty"


def test_concurrent_puts(state: CloudState, oss: OssService, endpoint: str) -> None:
    bucket = make_bucket(endpoint, AUTHS["v1"](state))
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(5):
                bucket.put_object(f"t{n}/{i}", b"x" * n)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(oss.object_keys(BUCKET)) == 40


def test_service_interface(oss: OssService) -> None:
    put = HttpRequest("PUT", "/bkt/a%2Fb", {"x-oss-copy-source": "/bkt/c"})
    assert oss.action_of(put) == "CopyObject"
    assert oss.action_of(HttpRequest("GET", "/bkt/?list-type=2", {})) == "ListObjectsV2"
    assert oss.action_of(HttpRequest("POST", "/bkt/k?uploads", {})) == "InitiateMultipartUpload"
    assert oss.action_of(HttpRequest("PUT", "/bkt/k?partNumber=1&uploadId=x", {})) == "UploadPart"
    anonymous = oss.handle(HttpRequest("GET", "/bkt/k", {}))
    assert (anonymous.status, anonymous.action) == (403, "GetObject")
    error = oss.error_response(503, "ServiceUnavailable", "try later")
    assert error.status == 503 and b"<Code>ServiceUnavailable</Code>" in error.body
    assert error.headers["x-oss-request-id"]
    assert oss.garbage_response().status == 200

"""ProxyBucket / ProxyService with the real oss2 client against the emulated OSS, fetching secrets
from the emulated DKMS over the real wire (``DkmsSource``); fetches are counted by the emulator."""

from __future__ import annotations

import io
import itertools
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import oss2
import pytest
from oss2.exceptions import NoSuchKey, ServerError
from oss2.models import PartInfo

import oss_plugin
from common_plugin.ak_expire_handler import AKExpireHandler
from common_plugin.exceptions import ProviderClosedError
from common_plugin.manager import ProviderManager
from common_plugin.provider import CredentialsProvider
from common_plugin.scheduler import ManualScheduler
from common_plugin.sources.dkms import DkmsSource
from common_plugin.testing.emulator import LocalAliyun
from oss_plugin import ManagedOssCredentialsProvider, OssAKExpireHandler, ProxyBucket, ProxyService, _retry

BUCKET = "bkt"
REGION = "cn-hangzhou"
_NAMES = itertools.count(1)


# ---- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalAliyun]:
    with LocalAliyun() as emulator:
        emulator.create_bucket(BUCKET)
        yield emulator


@pytest.fixture(scope="module")
def source(cloud: LocalAliyun) -> Iterator[DkmsSource]:
    assert cloud.dkms_endpoint and cloud.client_key_password_file
    dkms = DkmsSource(
        region_id=cloud.region_id,
        endpoint=cloud.dkms_endpoint,
        client_key_content=cloud.client_key.to_json(),
        password=cloud.client_key_password_file.read_text(),
        ca_file_path=str(cloud.ca_file),
    )
    yield dkms
    dkms.close()


@pytest.fixture
def endpoint(cloud: LocalAliyun) -> str:
    assert cloud.oss_endpoint
    cloud.reset_counters()
    return cloud.oss_endpoint


@pytest.fixture
def secret(cloud: LocalAliyun) -> str:
    name = f"oss-app-{next(_NAMES)}"
    cloud.create_ram_secret(name)
    return name


@pytest.fixture
def provider(source: DkmsSource) -> Iterator[CredentialsProvider]:
    with CredentialsProvider(source, scheduler=ManualScheduler()) as built:
        yield built


@pytest.fixture
def manager(source: DkmsSource, monkeypatch: pytest.MonkeyPatch) -> Iterator[ProviderManager]:
    """A fresh process-wide manager for clients built without a provider."""
    fresh = ProviderManager(lambda: CredentialsProvider(source, scheduler=ManualScheduler()))
    monkeypatch.setattr(_retry, "default_manager", lambda: fresh)
    yield fresh
    current = fresh.peek()
    if current is not None:
        current.close()


def fetches(cloud: LocalAliyun) -> int:
    return cloud.count("dkms", "GetSecretValue")


def revoke_now(cloud: LocalAliyun, secret: str) -> None:
    cloud.rotate(secret, grace_seconds=0)


def make_bucket(
    endpoint: str, secret: str, provider: CredentialsProvider, auth_version: str = "v1", **kwargs: object
) -> ProxyBucket:
    return ProxyBucket(
        secret, endpoint, BUCKET, region=REGION, auth_version=auth_version, provider=provider, **kwargs
    )


# ---- public surface --------------------------------------------------------------------------


def test_public_api_and_compat_import_path() -> None:
    assert oss_plugin.__all__ == sorted(oss_plugin.__all__)
    assert oss_plugin.__all__ == [
        "ManagedOssCredentialsProvider",
        "OssAKExpireHandler",
        "ProxyBucket",
        "ProxyService",
    ]
    from aliyun_sdk_secretsmanager_oss_plugin.proxy_bucket import ProxyBucket as Compat

    assert Compat is ProxyBucket
    assert issubclass(ProxyBucket, oss2.Bucket) and issubclass(ProxyService, oss2.Service)
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("oss_plugin").handlers)


def test_default_handler_codes() -> None:
    handler = OssAKExpireHandler()
    assert handler.codes == {"InvalidAccessKeyId", "InvalidAccessKeyId.NotFound", "SecurityTokenExpired"}
    assert "SignatureDoesNotMatch" not in handler.codes and "AccessDenied" not in handler.codes
    assert "Custom.Code" in OssAKExpireHandler("Custom.Code").codes


def test_constructor_validation_takes_no_lease(manager: ProviderManager, endpoint: str, secret: str) -> None:
    with pytest.raises(ValueError, match="region"):
        ProxyBucket(secret, endpoint, BUCKET, auth_version="v4")
    with pytest.raises(ValueError, match="auth_version"):
        ProxyBucket(secret, endpoint, BUCKET, auth_version="v3")
    with pytest.raises(TypeError, match="ak_expire_handler"):
        ProxyBucket(secret, endpoint, BUCKET, ak_expire_handler=42)
    with pytest.raises(ValueError, match="secret_name"):
        ProxyService("", endpoint)
    with pytest.raises(oss2.exceptions.ClientError):  # oss2 rejects the bucket name after the lease
        ProxyBucket(secret, endpoint, "Not_A_Bucket")
    assert manager.reference_count == 0 and manager.peek() is None


def test_repr_shows_no_secret(endpoint: str, secret: str, provider: CredentialsProvider) -> None:
    with make_bucket(endpoint, secret, provider) as bucket:
        bucket.put_object("r.txt", b"x")
        cred = provider.get(secret)
        service = ProxyService(secret, endpoint, provider=provider)
        for text in (repr(bucket), repr(bucket.credentials_provider), repr(service)):
            assert cred.access_key_secret not in text and cred.access_key_id not in text
        expected = f"ProxyBucket(secret_name={secret!r}, endpoint={endpoint!r}, bucket_name='bkt')"
        assert repr(bucket) == expected


# ---- the oss2 surface through the proxy ------------------------------------------------------


@pytest.mark.parametrize("auth_version", ["v1", "v4"])
def test_object_operations(
    cloud: LocalAliyun, endpoint: str, secret: str, provider: CredentialsProvider, auth_version: str
) -> None:
    bucket = make_bucket(endpoint, secret, provider, auth_version)
    data = os.urandom(2048)
    put = bucket.put_object("dir/a.bin", data, headers={"x-oss-meta-owner": "me"})
    assert put.crc == bucket.head_object("dir/a.bin").server_crc
    assert bucket.get_object("dir/a.bin").read() == data
    assert bucket.get_object("dir/a.bin", byte_range=(10, 19)).read() == data[10:20]
    assert bucket.head_object("dir/a.bin").headers["x-oss-meta-owner"] == "me"
    bucket.copy_object(BUCKET, "dir/a.bin", "dir/b.bin")
    assert bucket.get_object("dir/b.bin").read() == data
    assert [o.key for o in bucket.list_objects(prefix="dir/").object_list] == ["dir/a.bin", "dir/b.bin"]
    assert [o.key for o in oss2.ObjectIteratorV2(bucket, prefix="dir/", max_keys=1)] == [
        "dir/a.bin",
        "dir/b.bin",
    ]

    chunks = [os.urandom(1000), os.urandom(500)]
    upload_id = bucket.init_multipart_upload("dir/multi.bin").upload_id
    parts = [
        PartInfo(n, bucket.upload_part("dir/multi.bin", upload_id, n, chunk).etag)
        for n, chunk in enumerate(chunks, start=1)
    ]
    bucket.complete_multipart_upload("dir/multi.bin", upload_id, parts)
    assert bucket.get_object("dir/multi.bin").read() == b"".join(chunks)

    for key in ("dir/a.bin", "dir/b.bin", "dir/multi.bin"):
        bucket.delete_object(key)
    with pytest.raises(NoSuchKey):
        bucket.get_object("dir/a.bin")
    key_id = provider.get(secret).access_key_id
    assert cloud.count("oss", access_key_id=key_id) == cloud.count("oss") > 0
    assert fetches(cloud) == 1


def test_resumable_upload_and_download(
    cloud: LocalAliyun, endpoint: str, secret: str, provider: CredentialsProvider, tmp_path: Path
) -> None:
    bucket = make_bucket(endpoint, secret, provider)
    data = os.urandom(250 * 1024)
    source_file, target_file = tmp_path / "up.bin", tmp_path / "down.bin"
    source_file.write_bytes(data)
    store = oss2.ResumableStore(root=str(tmp_path))
    oss2.resumable_upload(
        bucket, "big.bin", str(source_file), store=store, multipart_threshold=100 * 1024, part_size=100 * 1024
    )
    assert cloud.count("oss", "UploadPart") == 3
    oss2.resumable_download(
        bucket,
        "big.bin",
        str(target_file),
        store=oss2.ResumableDownloadStore(root=str(tmp_path)),
        multiget_threshold=100 * 1024,
        part_size=100 * 1024,
    )
    assert target_file.read_bytes() == data


@pytest.mark.parametrize("auth_version", ["v1", "v4"])
def test_sts_token_secret_sends_the_token_and_keeps_it_out_of_logs(
    cloud: LocalAliyun,
    endpoint: str,
    provider: CredentialsProvider,
    auth_version: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = f"oss-sts-{next(_NAMES)}"
    cloud.create_ram_secret(name, with_sts_token=True)
    bucket = make_bucket(endpoint, name, provider, auth_version)
    token = bucket.credentials_provider.get_credentials().get_security_token()
    assert token
    with caplog.at_level(logging.DEBUG):  # oss2 logs request headers and strings to sign at DEBUG
        # The emulator answers InvalidSecurityToken unless x-oss-security-token matches the key's token.
        bucket.put_object("sts.txt", b"token")
        assert bucket.get_object("sts.txt").read() == b"token"
        bucket.sign_url("GET", "sts.txt", 60)
        revoke_now(cloud, name)
        assert bucket.get_object("sts.txt").read() == b"token"
    assert fetches(cloud) == 2
    assert "x-oss-security-token" in caplog.text.lower()
    assert token not in caplog.text and token[10:30] not in caplog.text


def test_token_redaction_forms() -> None:
    from common_plugin.masking import redact_secrets as redact_tokens

    token = "CAIS" + "Ab1+/=_-" * 4
    for text in (
        f"headers: {{'date': 'x', 'x-oss-security-token': '{token}', 'authorization': 'OSS a:b'}}",
        f"string to be signed = b'GET\\n\\n\\nx-oss-security-token:{token}\\n/bkt/k'",
        f"/bkt/k?security-token={token}&x=1",
        f"{{'SecurityToken': '{token}'}}",
    ):
        redacted = redact_tokens(text)
        assert token not in redacted and "****" in redacted


def test_credentials_provider_alone_follows_refreshes(
    cloud: LocalAliyun, endpoint: str, secret: str, provider: CredentialsProvider
) -> None:
    plain = oss2.Bucket(oss2.ProviderAuth(ManagedOssCredentialsProvider(provider, secret)), endpoint, BUCKET)
    plain.put_object("plain.txt", b"1")
    revoke_now(cloud, secret)
    provider.refresh(secret)  # the proactive path: no retry needed
    assert plain.get_object("plain.txt").read() == b"1"


# ---- rotation and retry ----------------------------------------------------------------------


@pytest.mark.parametrize("auth_version", ["v1", "v4"])
def test_revoked_key_refreshes_once_and_retries_once(
    cloud: LocalAliyun,
    endpoint: str,
    secret: str,
    provider: CredentialsProvider,
    auth_version: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bucket = make_bucket(endpoint, secret, provider, auth_version)
    bucket.put_object("k.txt", b"v1")
    old = provider.get(secret)
    revoke_now(cloud, secret)

    with caplog.at_level(logging.INFO, logger="oss_plugin"):
        assert bucket.get_object("k.txt").read() == b"v1"
    new = provider.get(secret)
    assert new.access_key_id != old.access_key_id
    assert cloud.count("oss", "GetObject", old.access_key_id) == 1
    assert cloud.count("oss", "GetObject", new.access_key_id) == 1
    assert fetches(cloud) == 2
    assert provider.status().counters["retries"] == 1  # the retry is reported to the provider
    retry_lines = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retry_lines) == 1 and new.masked_access_key_id in retry_lines[0]
    assert new.access_key_id not in caplog.text and new.access_key_secret not in caplog.text


def test_32_threads_across_an_immediate_revoke(
    cloud: LocalAliyun, endpoint: str, secret: str, provider: CredentialsProvider
) -> None:
    threads_count, rounds = 32, 3
    bucket = make_bucket(endpoint, secret, provider, session=oss2.Session(pool_size=threads_count + 4))
    old = provider.get(secret)
    warmed = threading.Barrier(threads_count + 1)
    revoked = threading.Event()
    failures: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            key = f"race/{index}"
            bucket.put_object(key, b"warm")
            warmed.wait(timeout=30)
            assert revoked.wait(timeout=30)
            for round_ in range(rounds):
                payload = f"{index}-{round_}".encode()
                bucket.put_object(key, payload)
                assert bucket.get_object(key).read() == payload
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    warmed.wait(timeout=30)
    cloud.reset_counters()
    revoke_now(cloud, secret)
    revoked.set()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    new = provider.get(secret)
    assert fetches(cloud) == 1
    rejected = cloud.count("oss", access_key_id=old.access_key_id)
    assert rejected >= 1
    # Every call succeeded exactly once with the new key: a rejected one was retried exactly once.
    assert cloud.count("oss", access_key_id=new.access_key_id) == threads_count * rounds * 2
    assert cloud.count("oss") == threads_count * rounds * 2 + rejected


class RecordingHandler(AKExpireHandler):
    def __init__(self) -> None:
        self.seen: list[BaseException] = []

    def judge_ak_expire(self, exception: BaseException) -> bool:
        self.seen.append(exception)
        return getattr(exception, "code", None) == "InvalidAccessKeyId"


def test_custom_handler_and_plain_callable_are_consulted(
    cloud: LocalAliyun, endpoint: str, secret: str, provider: CredentialsProvider
) -> None:
    handler = RecordingHandler()
    bucket = make_bucket(endpoint, secret, provider, ak_expire_handler=handler)
    bucket.put_object("h.txt", b"h")
    revoke_now(cloud, secret)
    assert bucket.get_object("h.txt").read() == b"h"
    assert [getattr(e, "code", None) for e in handler.seen] == ["InvalidAccessKeyId"]

    calls: list[BaseException] = []
    judged = make_bucket(endpoint, secret, provider, ak_expire_handler=lambda exc: calls.append(exc) or True)
    revoke_now(cloud, secret)
    assert judged.get_object("h.txt").read() == b"h"
    assert len(calls) == 1 and isinstance(calls[0], ServerError)


def test_handler_saying_no_leaves_the_error_unchanged_and_fetches_nothing(
    cloud: LocalAliyun, endpoint: str, secret: str, provider: CredentialsProvider
) -> None:
    seen: list[BaseException] = []

    def never(exception: BaseException) -> bool:
        seen.append(exception)
        return False

    bucket = make_bucket(endpoint, secret, provider, ak_expire_handler=never)
    bucket.put_object("n.txt", b"n")
    revoke_now(cloud, secret)
    with pytest.raises(ServerError) as raised:
        bucket.get_object("n.txt")
    assert raised.value is seen[0]
    assert raised.value.code == "InvalidAccessKeyId" and raised.value.__context__ is None
    assert fetches(cloud) == 1 and cloud.count("oss", "GetObject") == 1


def test_not_a_rejected_key_is_not_retried(
    cloud: LocalAliyun, endpoint: str, secret: str, provider: CredentialsProvider
) -> None:
    bucket = make_bucket(endpoint, secret, provider)
    with pytest.raises(NoSuchKey):
        bucket.get_object("missing")
    assert fetches(cloud) == 1 and cloud.count("oss", "GetObject") == 1


class ReadOnlyStream:
    """A non-seekable stream (like a socket or pipe reader)."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def read(self, amt: int | None = None) -> bytes:
        return self._inner.read(amt)


class SaysNotSeekable(io.BytesIO):
    """A stream with ``seek``/``tell`` whose ``seekable()`` says no (a wrapper over a pipe, say)."""

    def seekable(self) -> bool:
        return False


def _progress_sink(consumed: int, total: int | None) -> None:
    return None


Upload = Callable[[ProxyBucket, str, bytes, Path, Callable[[], None]], None]


def _put(make_body: Callable[[bytes], object]) -> Upload:
    def upload(
        bucket: ProxyBucket, key: str, data: bytes, tmp_path: Path, revoke: Callable[[], None]
    ) -> None:
        body = make_body(data)
        revoke()
        bucket.put_object(key, body)

    return upload


def _put_file_with_progress(
    bucket: ProxyBucket, key: str, data: bytes, tmp_path: Path, revoke: Callable[[], None]
) -> None:
    (tmp_path / "f.bin").write_bytes(b"HEADER" + data)
    with open(tmp_path / "f.bin", "rb") as handle:
        handle.seek(6)  # the body starts mid-file: a rewind must go back here, not to 0
        revoke()
        bucket.put_object(key, handle, progress_callback=_progress_sink)


def _upload_part_from_file(
    bucket: ProxyBucket, key: str, data: bytes, tmp_path: Path, revoke: Callable[[], None]
) -> None:
    upload_id = bucket.init_multipart_upload(key).upload_id
    (tmp_path / "part.bin").write_bytes(data)
    with open(tmp_path / "part.bin", "rb") as handle:
        revoke()  # reject the part upload, as resumable_upload sends it
        etag = bucket.upload_part(key, upload_id, 1, oss2.utils.SizedFileAdapter(handle, len(data))).etag
    bucket.complete_multipart_upload(key, upload_id, [PartInfo(1, etag)])


BODIES: dict[str, Upload] = {
    "bytes": _put(lambda d: d),
    "str": _put(lambda d: d.hex()),
    "bytesio": _put(io.BytesIO),
    "file-mid-position-with-progress": _put_file_with_progress,
    "upload-part-sized-file-adapter": _upload_part_from_file,
}


@pytest.mark.parametrize("kind", sorted(BODIES))
@pytest.mark.parametrize("enable_crc", [True, False], ids=["crc", "no-crc"])
def test_replayable_bodies_are_rewound_and_sent_in_full(
    cloud: LocalAliyun,
    endpoint: str,
    secret: str,
    provider: CredentialsProvider,
    tmp_path: Path,
    kind: str,
    enable_crc: bool,
) -> None:
    bucket = make_bucket(endpoint, secret, provider, enable_crc=enable_crc)
    bucket.put_object("warm.txt", b"w")
    old = provider.get(secret)
    data = os.urandom(20_000)
    key = f"body-{kind}-{enable_crc}"
    BODIES[kind](bucket, key, data, tmp_path, lambda: revoke_now(cloud, secret))
    expected = data.hex().encode() if kind == "str" else data
    assert bucket.get_object(key).read() == expected
    assert fetches(cloud) == 2
    assert provider.get(secret).access_key_id != old.access_key_id
    rejected = cloud.count("oss", access_key_id=old.access_key_id)
    assert rejected == (3 if kind == "upload-part-sized-file-adapter" else 2)  # warm-up (+ init) + 1


@pytest.mark.parametrize(
    "make_body",
    [lambda d: (d[i : i + 1000] for i in range(0, len(d), 1000)), ReadOnlyStream],
    ids=["generator", "read-only-stream"],
)
def test_non_seekable_bodies_are_not_replayed(
    cloud: LocalAliyun,
    endpoint: str,
    secret: str,
    provider: CredentialsProvider,
    make_body: Callable[[bytes], object],
) -> None:
    bucket = make_bucket(endpoint, secret, provider)
    bucket.put_object("warm.txt", b"w")
    old = provider.get(secret)
    revoke_now(cloud, secret)
    with pytest.raises(ServerError) as raised:
        bucket.put_object("stream.bin", make_body(b"s" * 5000))
    assert raised.value.code == "InvalidAccessKeyId"
    assert cloud.count("oss", "PutObject") == 2  # the warm-up and the one rejected attempt
    assert cloud.count("oss", "PutObject", old.access_key_id) == 2
    # The provider learned of the rotation: the next call signs with the new key at once.
    bucket.put_object("stream.bin", make_body(b"s" * 5000))
    assert bucket.get_object("stream.bin").read() == b"s" * 5000
    assert fetches(cloud) == 2


def test_capture_body_rules() -> None:
    def gen() -> Iterator[bytes]:
        yield b"x"

    assert _retry.capture_body(None) is not None and _retry.capture_body(b"x") is not None
    assert _retry.capture_body(gen()) is None
    assert _retry.capture_body(oss2.utils.make_crc_adapter(gen())) is None
    assert _retry.capture_body(ReadOnlyStream(b"x")) is None
    assert _retry.capture_body(oss2.utils.make_crc_adapter(ReadOnlyStream(b"x"))) is None
    assert _retry.capture_body(SaysNotSeekable(b"x")) is None  # its own word, though seek() exists
    cipher = oss2.utils.make_cipher_adapter(b"abc", lambda chunk: chunk)
    assert _retry.capture_body(cipher) is None

    progress = oss2.utils.make_progress_adapter(io.BytesIO(b"abcdef"), _progress_sink)
    adapter = oss2.utils.make_crc_adapter(progress)
    restore = _retry.capture_body(adapter)
    assert restore is not None
    first = adapter.read()
    crc_after_first = adapter.crc
    restore()
    assert adapter.read() == first == b"abcdef" and adapter.crc == crc_after_first


# ---- ProxyService ----------------------------------------------------------------------------


def test_proxy_service_retries_list_buckets(
    cloud: LocalAliyun, endpoint: str, secret: str, provider: CredentialsProvider
) -> None:
    # The emulator authenticates ListBuckets but does not implement it (501 NotImplemented), so this
    # checks the retry on the wire: one rejected request with the old key, one with the new key.
    service = ProxyService(secret, endpoint, provider=provider)
    old = provider.get(secret)
    revoke_now(cloud, secret)
    with pytest.raises(ServerError) as raised:
        service.list_buckets()
    assert (raised.value.status, raised.value.code) == (501, "NotImplemented")
    new = provider.get(secret)
    assert cloud.count("oss", "ListBuckets", old.access_key_id) == 1
    assert cloud.count("oss", "ListBuckets", new.access_key_id) == 1
    service.shutdown()
    with pytest.raises(ProviderClosedError):
        service.list_buckets()


# ---- lifecycle -------------------------------------------------------------------------------


def test_shutdown_releases_only_its_own_lease(manager: ProviderManager, endpoint: str, secret: str) -> None:
    first = ProxyBucket(secret, endpoint, BUCKET)
    second = ProxyBucket(secret, endpoint, BUCKET)
    assert first.provider is second.provider and manager.reference_count == 2
    first.put_object("shared.txt", b"s")

    first.shutdown()
    first.shutdown()  # idempotent
    assert manager.reference_count == 1
    assert second.get_object("shared.txt").read() == b"s"
    with pytest.raises(ProviderClosedError):
        first.get_object("shared.txt")

    with second:
        pass
    assert manager.peek() is None and second.provider.closed


def test_shutdown_keeps_a_passed_provider_and_session_open(
    endpoint: str, secret: str, provider: CredentialsProvider
) -> None:
    session = oss2.Session()
    with make_bucket(endpoint, secret, provider, session=session) as bucket:
        bucket.put_object("own.txt", b"o")
    assert not provider.closed
    other = make_bucket(endpoint, secret, provider, session=session)
    assert other.get_object("own.txt").read() == b"o"

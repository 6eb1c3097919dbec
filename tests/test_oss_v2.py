"""alibabacloud-oss-v2 clients (real SDK, v4 and v1 signatures) against the OSS emulator."""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import alibabacloud_oss_v2 as oss
import pytest

from common_plugin.provider import CredentialsProvider
from common_plugin.testing import LocalAliyun
from oss_plugin.v2 import ManagedOssV2CredentialsProvider, ManagedOssV2Retryer, configure

SECRET = "app-oss-key"
BUCKET = "bkt"
SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def fetches(cloud: LocalAliyun) -> int:
    return cloud.count("dkms", "GetSecretValue")


def oss_requests(cloud: LocalAliyun, key_id: str) -> int:
    return cloud.count("oss", None, key_id)


@pytest.fixture
def cloud(local_aliyun: LocalAliyun) -> LocalAliyun:
    local_aliyun.create_ram_secret(SECRET)
    local_aliyun.create_bucket(BUCKET)
    return local_aliyun


def make_client(cloud: LocalAliyun, provider: CredentialsProvider, **settings: Any) -> oss.Client:
    config = oss.config.load_default()
    config.region = cloud.region_id
    config.endpoint = cloud.oss_endpoint
    for name, value in settings.items():
        setattr(config, name, value)
    return oss.Client(configure(config, provider, SECRET))


@pytest.mark.parametrize("signature_version", ["v4", "v1"])
def test_revoked_key_one_fetch_one_retry(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider], signature_version: str
) -> None:
    client = make_client(cloud, make_provider(cloud), signature_version=signature_version)
    client.put_object(oss.PutObjectRequest(bucket=BUCKET, key="a.txt", body=b"one"))
    old = cloud.current_key(SECRET).access_key_id
    cloud.rotate(SECRET)  # immediate revoke
    new = cloud.current_key(SECRET).access_key_id
    body = io.BytesIO(b"two")  # a seekable body: the SDK rewinds it for the retry
    client.put_object(oss.PutObjectRequest(bucket=BUCKET, key="a.txt", body=body))
    assert client.get_object(oss.GetObjectRequest(bucket=BUCKET, key="a.txt")).body.read() == b"two"
    assert fetches(cloud) == 2
    assert oss_requests(cloud, old) == 2  # one success, one rejection
    assert oss_requests(cloud, new) == 2  # exactly one retry, then the get


def test_key_unchanged_after_rejection_raises_the_original_error(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    provider = make_provider(cloud)
    config = oss.config.load_default()
    config.region, config.endpoint = cloud.region_id, cloud.oss_endpoint
    client = oss.Client(configure(config, provider, SECRET, ak_expire_handler=lambda e: True))
    client.put_object(oss.PutObjectRequest(bucket=BUCKET, key="a.txt", body=b"one"))
    cloud.disable_key(cloud.current_key(SECRET).access_key_id)
    with pytest.raises(oss.exceptions.OperationError) as info:
        client.get_object(oss.GetObjectRequest(bucket=BUCKET, key="a.txt"))
    error = info.value.unwrap()
    assert isinstance(error, oss.exceptions.ServiceError) and error.status_code == 403
    assert fetches(cloud) == 2  # one refresh returned the same key: no retry
    assert cloud.count("oss", "GetObject") == 1


def test_a_second_rejection_is_not_retried_again(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    client = make_client(cloud, make_provider(cloud))
    client.put_object(oss.PutObjectRequest(bucket=BUCKET, key="a.txt", body=b"one"))
    cloud.rotate(SECRET)
    # the replacement is revoked as soon as it has been fetched: the retry is rejected too
    cloud.inject_fault("oss", _rejected_fault(), count=2, action="GetObject")
    with pytest.raises(oss.exceptions.OperationError) as info:
        client.get_object(oss.GetObjectRequest(bucket=BUCKET, key="a.txt"))
    assert info.value.unwrap().code == "InvalidAccessKeyId"
    assert cloud.count("oss", "GetObject") == 2  # the first attempt and one retry, no more
    assert fetches(cloud) == 2


def _rejected_fault() -> Any:
    from common_plugin.testing.state import Fault

    return Fault("status", status=403, code="InvalidAccessKeyId")


def test_other_errors_use_the_sdk_retryer(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    client = make_client(cloud, make_provider(cloud))
    with pytest.raises(oss.exceptions.OperationError) as info:
        client.get_object(oss.GetObjectRequest(bucket=BUCKET, key="missing"))
    assert info.value.unwrap().code == "NoSuchKey"
    assert fetches(cloud) == 1 and cloud.count("oss", "GetObject") == 1


def test_concurrent_threads_across_a_revoke_fetch_once(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    client = make_client(cloud, make_provider(cloud))
    client.put_object(oss.PutObjectRequest(bucket=BUCKET, key="a.txt", body=b"one"))
    cloud.rotate(SECRET)
    n = 16
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            client.get_object(oss.GetObjectRequest(bucket=BUCKET, key="a.txt")).body.read()
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert fetches(cloud) == 2


def test_credentials_provider_converts_and_hides_the_secret(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    credentials = ManagedOssV2CredentialsProvider(make_provider(cloud), SECRET)
    converted = credentials.get_credentials()
    key = cloud.current_key(SECRET)
    assert converted.access_key_id == key.access_key_id and converted.has_keys()
    assert credentials.get_credentials() is converted  # cached per snapshot
    retryer = ManagedOssV2Retryer(credentials)
    assert retryer.max_attempts() >= 2
    for text in (repr(credentials), repr(retryer)):
        assert key.access_key_secret not in text and key.access_key_id not in text


def test_sample(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(SAMPLES))
    sys.modules.pop("oss_v2_client", None)
    import oss_v2_client

    provider = make_provider(cloud)
    endpoint = str(cloud.oss_endpoint)
    assert oss_v2_client.main(provider, SECRET, endpoint, BUCKET) == b"hello, managed key"
    cloud.rotate(SECRET)
    assert oss_v2_client.main(provider, SECRET, endpoint, BUCKET) == b"hello, managed key"
    assert fetches(cloud) == 2


def test_retry_state_does_not_leak_into_the_next_operation(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    """Our retryer says "retry" after a rejection, but the SDK has no attempt left
    (``retry_max_attempts=1``): the next operation in this thread still gets its own one retry."""
    client = make_client(cloud, make_provider(cloud))
    client.put_object(oss.PutObjectRequest(bucket=BUCKET, key="a.txt", body=b"one"))
    cloud.rotate(SECRET)
    with pytest.raises(oss.exceptions.OperationError) as info:
        client.get_object(oss.GetObjectRequest(bucket=BUCKET, key="a.txt"), retry_max_attempts=1)
    assert info.value.unwrap().code == "InvalidAccessKeyId"
    assert fetches(cloud) == 2  # the rejection was reported: the provider holds the second key
    cloud.rotate(SECRET)  # and that one is revoked before its first use
    third = cloud.current_key(SECRET).access_key_id
    assert client.get_object(oss.GetObjectRequest(bucket=BUCKET, key="a.txt")).body.read() == b"one"
    assert fetches(cloud) == 3
    assert oss_requests(cloud, third) == 1  # the next operation's own retry


def test_a_retry_after_other_errors_keeps_the_operations_one_rejection_retry(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    """Within one operation, attempts retried for a 5xx belong to the same operation: the rejection
    retry is still available after them, and used at most once."""
    client = make_client(cloud, make_provider(cloud))
    client.put_object(oss.PutObjectRequest(bucket=BUCKET, key="a.txt", body=b"one"))
    from common_plugin.testing.state import Fault

    cloud.inject_fault("oss", Fault("status", status=503, code="ServiceUnavailable"), action="GetObject")
    cloud.rotate(SECRET)
    result = client.get_object(oss.GetObjectRequest(bucket=BUCKET, key="a.txt"), retry_max_attempts=3)
    assert result.body.read() == b"one"
    assert cloud.count("oss", "GetObject") == 3  # 503, rejection, retry with the new key
    assert fetches(cloud) == 2


class HookedRetryer(oss.retry.StandardRetryer):  # type: ignore[misc]
    """The SDK's standard retryer without back-off; records when it is asked for a delay and runs
    ``hook`` (once) before the first attempt it delays."""

    def __init__(self, hook: Callable[[], object] | None = None) -> None:
        super().__init__()
        self.hook = hook
        self.delays: list[int] = []

    def retry_delay(self, attempt: int, error: Exception) -> float:
        self.delays.append(attempt)
        hook, self.hook = self.hook, None
        if hook is not None:
            hook()
        return 0.0


def client_with(cloud: LocalAliyun, provider: CredentialsProvider, retryer: Any) -> oss.Client:
    config = oss.config.load_default()
    config.region, config.endpoint = cloud.region_id, cloud.oss_endpoint
    config.retryer = retryer
    return oss.Client(configure(config, provider, SECRET))


def test_the_rejection_retry_is_sent_without_the_inner_back_off(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    inner = HookedRetryer()
    client = client_with(cloud, make_provider(cloud), inner)
    client.put_object(oss.PutObjectRequest(bucket=BUCKET, key="a.txt", body=b"one"))
    cloud.rotate(SECRET)
    assert client.get_object(oss.GetObjectRequest(bucket=BUCKET, key="a.txt")).body.read() == b"one"
    assert cloud.count("oss", "GetObject") == 2
    assert inner.delays == []  # a new key, not an overloaded server: the inner retryer's delay is not asked


def test_a_retryer_that_never_retries_still_leaves_room_for_the_rejection_retry(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    client = client_with(cloud, make_provider(cloud), oss.retry.NopRetryer())
    client.put_object(oss.PutObjectRequest(bucket=BUCKET, key="a.txt", body=b"one"))
    cloud.rotate(SECRET)
    assert client.get_object(oss.GetObjectRequest(bucket=BUCKET, key="a.txt")).body.read() == b"one"
    assert fetches(cloud) == 2 and cloud.count("oss", "GetObject") == 2


def test_an_attempt_signed_with_a_key_refreshed_mid_operation_reports_that_key(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    """Between a 503 and the SDK's next attempt another thread refreshed the key (B), and B is then
    revoked too: the rejection of the attempt signed with B must ask to replace B, not the first
    attempt's key A (whose replacement, B, is already cached and would be 'retried' in vain)."""
    from common_plugin.testing.state import Fault

    provider = make_provider(cloud)

    def meanwhile() -> None:
        cloud.rotate(SECRET)  # A revoked
        provider.refresh(SECRET)  # B cached, as by a background refresh
        cloud.rotate(SECRET)  # B revoked, C current

    client = client_with(cloud, provider, HookedRetryer(meanwhile))
    client.put_object(oss.PutObjectRequest(bucket=BUCKET, key="a.txt", body=b"one"))
    cloud.inject_fault("oss", Fault("status", status=503, code="ServiceUnavailable"), action="GetObject")
    result = client.get_object(oss.GetObjectRequest(bucket=BUCKET, key="a.txt"), retry_max_attempts=3)
    assert result.body.read() == b"one"
    assert cloud.count("oss", "GetObject") == 3  # 503 (A), rejection (B), retry (C)
    assert oss_requests(cloud, cloud.current_key(SECRET).access_key_id) == 1
    assert provider.status().counters["retries"] == 1


def test_a_5xx_after_the_rejection_retry_does_not_count_the_retry_twice(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    from common_plugin.testing.state import Fault

    provider = make_provider(cloud)
    client = client_with(cloud, provider, HookedRetryer())
    client.put_object(oss.PutObjectRequest(bucket=BUCKET, key="a.txt", body=b"one"))
    # The replacement's first attempt is answered 503; the SDK's next attempt succeeds.
    provider.add_listener(
        lambda *_: cloud.inject_fault("oss", Fault("status", status=503, code="ServiceUnavailable")),
        secret_name=SECRET,
    )
    cloud.rotate(SECRET)
    result = client.get_object(oss.GetObjectRequest(bucket=BUCKET, key="a.txt"), retry_max_attempts=3)
    assert result.body.read() == b"one"
    assert cloud.count("oss", "GetObject") == 3  # rejection, the retry's 503, the SDK's own retry
    assert provider.status().counters["retries"] == 1

"""ProxyAcsClient through the emulator with the real AcsClient: signing, retry, rotation, lifecycle."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.request import CommonRequest

from common_plugin import ManualClock, ProviderClosedError
from common_plugin.ak_expire_handler import AKExpireHandler
from common_plugin.provider import CredentialsProvider
from common_plugin.scheduler import ManualScheduler
from common_plugin.testing import LocalAliyun
from sdk_core_plugin.proxy_acs_client import ProxyAcsClient

SECRET = "app-key"


def describe_regions(client: Any, cloud: LocalAliyun) -> dict[str, Any]:
    request = CommonRequest(
        domain=cloud.rpc_endpoint, version="2014-05-26", action_name="DescribeRegions", product="Ecs"
    )
    request.set_protocol_type("http")
    result: dict[str, Any] = json.loads(client.do_action_with_exception(request))
    return result


def caller_identity(client: Any, cloud: LocalAliyun) -> dict[str, Any]:
    request = CommonRequest(
        domain=cloud.rpc_endpoint, version="2015-04-01", action_name="GetCallerIdentity", product="Sts"
    )
    request.set_protocol_type("http")
    result: dict[str, Any] = json.loads(client.do_action_with_exception(request))
    return result


def fetches(cloud: LocalAliyun) -> int:
    return cloud.count("dkms", "GetSecretValue")


@pytest.fixture
def cloud(local_aliyun: LocalAliyun) -> LocalAliyun:
    local_aliyun.create_ram_secret(SECRET)
    return local_aliyun


def test_signs_with_the_managed_key(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    with ProxyAcsClient(SECRET, provider=make_provider(cloud)) as client:
        assert describe_regions(client, cloud)["Regions"]
        key = cloud.current_key(SECRET)
        assert cloud.count("rpc", "DescribeRegions", key.access_key_id) == 1
        assert client.get_access_key() == key.access_key_id
        assert client.get_access_secret() == key.access_key_secret
        assert key.access_key_secret not in repr(client)


def test_revoked_key_refreshes_once_and_retries_once(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    client = ProxyAcsClient(SECRET, provider=make_provider(cloud))
    describe_regions(client, cloud)
    old = cloud.current_key(SECRET).access_key_id
    cloud.rotate(SECRET)  # immediate revoke
    new = cloud.current_key(SECRET).access_key_id
    assert describe_regions(client, cloud)["Regions"]
    assert fetches(cloud) == 2
    assert cloud.count("rpc", "DescribeRegions", old) == 2  # one success, one rejection
    assert cloud.count("rpc", "DescribeRegions", new) == 1  # exactly one retry
    assert client.get_access_key() == new


@pytest.mark.parametrize("entry", ["do_action", "get_response"])
def test_deprecated_entry_points_are_covered(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider], entry: str
) -> None:
    client = ProxyAcsClient(SECRET, provider=make_provider(cloud))
    describe_regions(client, cloud)
    cloud.rotate(SECRET)
    request = CommonRequest(
        domain=cloud.rpc_endpoint, version="2014-05-26", action_name="DescribeRegions", product="Ecs"
    )
    request.set_protocol_type("http")
    request.set_accept_format("JSON")
    with pytest.warns(DeprecationWarning):
        result = getattr(client, entry)(request)
    body = result if entry == "do_action" else result[2]
    assert "Regions" in json.loads(body)
    assert fetches(cloud) == 2


def test_32_threads_across_an_immediate_revoke_fail_nothing_and_fetch_once(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    client = ProxyAcsClient(SECRET, provider=make_provider(cloud), pool_size=32)
    describe_regions(client, cloud)
    threads_n, rounds = 32, 4
    barrier = threading.Barrier(threads_n + 1)
    errors: list[BaseException] = []
    calls = 0
    lock = threading.Lock()

    def worker() -> None:
        nonlocal calls
        for _ in range(rounds):
            barrier.wait()
            try:
                describe_regions(client, cloud)
                with lock:
                    calls += 1
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)
            barrier.wait()

    workers = [threading.Thread(target=worker) for _ in range(threads_n)]
    for t in workers:
        t.start()
    for round_no in range(rounds):
        if round_no == 2:
            cloud.rotate(SECRET)  # between rounds, so every thread of round 2 holds the old key
        barrier.wait()
        barrier.wait()
    for t in workers:
        t.join()
    assert errors == []
    assert calls == threads_n * rounds
    assert fetches(cloud) == 2  # the first load and exactly one for the revoke


class CountingHandler(AKExpireHandler):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def judge_ak_expire(self, exception: BaseException) -> bool:
        self.seen.append(getattr(exception, "error_code", ""))
        return getattr(exception, "error_code", "") == "InvalidAccessKeyId.NotFound"


def test_custom_handler_is_consulted(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    handler = CountingHandler()
    client = ProxyAcsClient(SECRET, ak_expire_handler=handler, provider=make_provider(cloud))
    describe_regions(client, cloud)
    cloud.rotate(SECRET)
    describe_regions(client, cloud)
    assert handler.seen == ["InvalidAccessKeyId.NotFound"]


def test_callable_handler_that_says_no_leaves_the_error_unchanged(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    seen: list[BaseException] = []

    def never(exc: BaseException) -> bool:
        seen.append(exc)
        return False

    client = ProxyAcsClient(SECRET, ak_expire_handler=never, provider=make_provider(cloud))
    describe_regions(client, cloud)
    cloud.rotate(SECRET)
    with pytest.raises(ServerException) as info:
        describe_regions(client, cloud)
    assert info.value is seen[0]
    assert info.value.error_code == "InvalidAccessKeyId.NotFound" and info.value.http_status == 404
    assert fetches(cloud) == 1


def test_a_raising_handler_counts_as_no(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    def broken(exc: BaseException) -> bool:
        raise RuntimeError("handler bug")

    client = ProxyAcsClient(SECRET, ak_expire_handler=broken, provider=make_provider(cloud))
    describe_regions(client, cloud)
    cloud.rotate(SECRET)
    with pytest.raises(ServerException):
        describe_regions(client, cloud)


def test_other_errors_are_not_retried(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    client = ProxyAcsClient(SECRET, provider=make_provider(cloud))
    request = CommonRequest(
        domain=cloud.rpc_endpoint, version="2014-05-26", action_name="NoSuchAction", product="Ecs"
    )
    request.set_protocol_type("http")
    with pytest.raises(ServerException) as info:
        client.do_action_with_exception(request)
    assert info.value.error_code == "InvalidAction.NotFound"
    assert fetches(cloud) == 1 and cloud.count("rpc") == 1


def test_key_unchanged_after_rejection_raises_the_original_error(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    client = ProxyAcsClient(SECRET, provider=make_provider(cloud))
    describe_regions(client, cloud)
    cloud.disable_key(cloud.current_key(SECRET).access_key_id)
    client_handler = ProxyAcsClient(SECRET, ak_expire_handler=lambda e: True, provider=client.provider)
    with pytest.raises(ServerException) as info:
        describe_regions(client_handler, cloud)
    assert info.value.error_code == "InvalidAccessKeyId.Inactive"
    assert fetches(cloud) == 2  # one fetch returned the same key: no retry, no loop
    with pytest.raises(ServerException):
        describe_regions(client_handler, cloud)
    assert fetches(cloud) == 2  # suppressed within the back-off window


def test_grace_period_rotation_is_picked_up_before_any_rejection(
    local_aliyun_factory: Callable[..., LocalAliyun], make_provider: Callable[..., CredentialsProvider]
) -> None:
    clock = ManualClock()
    cloud = local_aliyun_factory(clock=clock)
    secret = cloud.create_ram_secret(SECRET, rotation_interval_seconds=3600)
    scheduler = ManualScheduler()
    client = ProxyAcsClient(SECRET, provider=make_provider(cloud, scheduler=scheduler))
    describe_regions(client, cloud)
    old = cloud.current_key(SECRET).access_key_id
    assert secret.next_rotation_at is not None
    clock.set(secret.next_rotation_at)
    cloud.rotate(SECRET, grace_seconds=900)  # the scheduled rotation; the old key lives 15 more minutes
    refresh_at = scheduler.next_run_at(next(iter(scheduler.jobs())))
    assert refresh_at is not None and clock.time() < refresh_at < clock.time() + 900
    clock.set(refresh_at)
    scheduler.run_due(clock.time())
    assert client.get_access_key() == cloud.current_key(SECRET).access_key_id != old
    clock.advance(901)  # the old key is gone now
    describe_regions(client, cloud)
    assert cloud.count("rpc", "DescribeRegions", old) == 1  # never rejected: no retry was needed
    assert fetches(cloud) == 2


def test_sts_token_secret_sends_the_token_and_recovers_from_expiry(
    local_aliyun_factory: Callable[..., LocalAliyun], make_provider: Callable[..., CredentialsProvider]
) -> None:
    clock = ManualClock()
    cloud = local_aliyun_factory(clock=clock)
    cloud.create_ram_secret(SECRET, with_sts_token=True, token_ttl_seconds=3600)
    client = ProxyAcsClient(SECRET, provider=make_provider(cloud))
    identity = caller_identity(client, cloud)
    assert identity["AccountId"] == cloud.state.account_id
    clock.advance(1800)
    cloud.rotate(SECRET, grace_seconds=7200)  # a new token exists; the old key is still known
    clock.advance(1801)  # but the old token has expired (the new one has 1799 s left)
    assert caller_identity(client, cloud)["AccountId"] == cloud.state.account_id
    assert fetches(cloud) == 2


@pytest.mark.usefixtures("fresh_default_manager")
def test_shutdown_of_one_client_leaves_the_others_working(
    cloud: LocalAliyun, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud.write_properties(tmp_path / "managed_credentials_providers.properties")
    monkeypatch.chdir(tmp_path)
    first = ProxyAcsClient(SECRET)
    second = ProxyAcsClient(SECRET)
    assert first.provider is second.provider
    describe_regions(first, cloud)
    first.shutdown()
    first.shutdown()  # idempotent
    with pytest.raises(ProviderClosedError):
        describe_regions(first, cloud)
    cloud.rotate(SECRET)
    assert describe_regions(second, cloud)["Regions"]
    second.shutdown()
    assert second.provider.closed
    with ProxyAcsClient(SECRET) as third:  # a new default provider after the last one closed
        assert describe_regions(third, cloud)["Regions"]
        assert third.provider is not second.provider


def test_ignored_static_credentials_warn(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    with pytest.warns(UserWarning, match="ignored"):
        client = ProxyAcsClient(SECRET, ak="x", secret="y", provider=make_provider(cloud))
    assert describe_regions(client, cloud)["Regions"]


def test_a_provider_closed_under_a_rejected_call_leaves_the_original_error(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    provider = make_provider(cloud)
    client = ProxyAcsClient(SECRET, provider=provider)
    describe_regions(client, cloud)
    cloud.rotate(SECRET)

    def close_then_judge(exc: BaseException) -> bool:
        provider.close()  # e.g. another thread shut the provider down meanwhile
        return True

    closing = ProxyAcsClient(SECRET, ak_expire_handler=close_then_judge, provider=provider)
    with pytest.raises(ServerException) as info:
        describe_regions(closing, cloud)
    assert info.value.error_code == "InvalidAccessKeyId.NotFound"


def test_a_signer_passed_by_the_caller_signs_that_request(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    """AcsClient's (deprecated) implementation_of_do_action(request, signer) signs with the signer it
    is given; so does ProxyAcsClient, and it does not retry a call it did not sign."""
    from aliyunsdkcore.auth.credentials import AccessKeyCredential
    from aliyunsdkcore.auth.signers.access_key_signer import AccessKeySigner

    other = cloud.state.create_access_key()
    client = ProxyAcsClient(SECRET, provider=make_provider(cloud))
    request = CommonRequest(
        domain=cloud.rpc_endpoint, version="2015-04-01", action_name="GetCallerIdentity", product="Sts"
    )
    request.set_protocol_type("http")
    signer = AccessKeySigner(AccessKeyCredential(other.access_key_id, other.access_key_secret))
    with pytest.warns(DeprecationWarning):
        status, _, body = client.implementation_of_do_action(request, signer)
    assert status == 200 and json.loads(body)
    assert cloud.count("rpc", "GetCallerIdentity", other.access_key_id) == 1
    assert fetches(cloud) == 0  # the managed key was not even loaded


@pytest.mark.parametrize("style", ["RPC", "ROA"])
def test_a_permanent_key_after_an_sts_token_signs_without_the_token(style: str) -> None:
    """The retry re-signs the same request object: the token the first attempt (an STS key) wrote
    into its query or headers must be gone when the replacement is a permanent key."""
    from aliyunsdkcore.request import RoaRequest, RpcRequest

    from common_plugin.credentials import ManagedCredential
    from sdk_core_plugin.proxy_acs_client import _SnapshotSigner

    token = "CAIS-first-attempt-token-0001"  # noqa: S105 - a made-up token
    sts = ManagedCredential(SECRET, "STS.firstattempt01", "sts-secret-0001", security_token=token)
    permanent = ManagedCredential(SECRET, "LTAIsecondattempt02", "ram-secret-0002")
    request: Any
    if style == "RPC":
        request = RpcRequest("Sts", "2015-04-01", "GetCallerIdentity")
    else:
        request = RoaRequest("CS", "2015-12-15", "DescribeClusters", method="GET", uri_pattern="/clusters")
    first_headers, first_url = _SnapshotSigner(sts).sign("cn-hangzhou", request)
    assert token in first_url or token in first_headers.values()
    headers, url = _SnapshotSigner(permanent).sign("cn-hangzhou", request)
    assert "SecurityToken" not in url and token not in url
    assert "x-acs-security-token" not in headers and token not in headers.values()

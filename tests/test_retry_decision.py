"""The one retry decision (``common_plugin.retry``), through each of the five SDK adapters.

Every adapter is the real SDK client against the emulator. A counting handler and the provider's
events show that each call is judged once, asks for one replacement and retries through the one
decision; "the key changed" means the whole snapshot (id, secret, token), so a re-issued secret or
token under the same AccessKeyId is retried too.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import alibabacloud_oss_v2 as oss
import pytest
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi import utils_models as open_api_models
from aliyunsdkcore.request import CommonRequest

from common_plugin import retry
from common_plugin.adapters.aio import decide_retry_async
from common_plugin.adapters.tea import RefreshingTeaClient, TeaCredentialsProvider
from common_plugin.ak_expire_handler import ErrorCodeExpireHandler
from common_plugin.credentials import ManagedCredential
from common_plugin.observability import CredentialEvent, EventKind
from common_plugin.provider import CredentialsProvider
from common_plugin.testing import LocalAliyun
from oss_plugin import ProxyBucket
from oss_plugin.v2 import configure
from sdk_core_plugin import ProxyAcsClient

SECRET = "app-key"
BUCKET = "bkt"
# What a rejected, re-issued or disabled key is answered with, by the RPC, ACS3 and OSS verifiers.
CODES = (
    "InvalidAccessKeyId",
    "InvalidAccessKeyId.NotFound",
    "InvalidAccessKeyId.Inactive",
    "SignatureDoesNotMatch",
    "InvalidSecurityToken",
    "InvalidSecurityToken.MismatchWithAccessKey",
)


class CountingHandler(ErrorCodeExpireHandler):
    """Judges the codes above a rejected key and counts its judgements (thread-safe)."""

    def __init__(self) -> None:
        super().__init__(CODES)
        self._lock = threading.Lock()
        self.judgements = 0

    def judge_ak_expire(self, exception: BaseException) -> bool:
        with self._lock:
            self.judgements += 1
        return super().judge_ak_expire(exception)


Call = Callable[[], object]


def sdk_core(cloud: LocalAliyun, provider: CredentialsProvider, handler: CountingHandler) -> Call:
    client = ProxyAcsClient(SECRET, ak_expire_handler=handler, provider=provider)

    def call() -> object:
        request = CommonRequest(
            domain=cloud.rpc_endpoint, version="2015-04-01", action_name="GetCallerIdentity", product="Sts"
        )
        request.set_protocol_type("http")
        return client.do_action_with_exception(request)

    return call


def oss2_bucket(cloud: LocalAliyun, provider: CredentialsProvider, handler: CountingHandler) -> Call:
    assert cloud.oss_endpoint
    bucket = ProxyBucket(
        SECRET,
        cloud.oss_endpoint,
        BUCKET,
        region=cloud.region_id,
        provider=provider,
        ak_expire_handler=handler,
    )
    # With headers of its own, put_object hands _do the very CaseInsensitiveDict that oss2's signer
    # writes into (without, a fresh dict per attempt): the retry must start from the caller's copy.
    return lambda: bucket.put_object("a.txt", b"one", headers={"x-oss-meta-origin": "retry-decision"})


def oss_v2(cloud: LocalAliyun, provider: CredentialsProvider, handler: CountingHandler) -> Call:
    config = oss.config.load_default()
    config.region, config.endpoint = cloud.region_id, cloud.oss_endpoint
    client = oss.Client(configure(config, provider, SECRET, ak_expire_handler=handler))
    return lambda: client.put_object(oss.PutObjectRequest(bucket=BUCKET, key="a.txt", body=b"one"))


def _sts(cloud: LocalAliyun, provider: CredentialsProvider, handler: CountingHandler) -> Any:
    credentials = TeaCredentialsProvider(provider, SECRET)
    config = open_api_models.Config(
        credential=credentials.credential_client(),
        endpoint=cloud.sts_endpoint,
        protocol="http",
        region_id=cloud.region_id,
    )
    return RefreshingTeaClient(StsClient(config), credentials, ak_expire_handler=handler)


def tea(cloud: LocalAliyun, provider: CredentialsProvider, handler: CountingHandler) -> Call:
    return _sts(cloud, provider, handler).get_caller_identity  # type: ignore[no-any-return]


def tea_async(cloud: LocalAliyun, provider: CredentialsProvider, handler: CountingHandler) -> Call:
    sts = _sts(cloud, provider, handler)
    return lambda: asyncio.run(sts.get_caller_identity_async())


ADAPTERS = {"sdk-core": sdk_core, "oss2": oss2_bucket, "oss-v2": oss_v2, "tea": tea, "tea-async": tea_async}


class Scene:
    """One adapter, warmed up, with its judgements, events and fetches counted from now on."""

    def __init__(self, cloud: LocalAliyun, provider: CredentialsProvider, adapter: str) -> None:
        self.cloud = cloud
        self.provider = provider
        self.handler = CountingHandler()
        self.call = ADAPTERS[adapter](cloud, provider, self.handler)
        self.call()  # loads the key
        self.events: list[CredentialEvent] = []
        provider.add_event_listener(self.events.append)
        self.fetches_before = self.fetches()
        self.used = provider.get(SECRET)

    def fetches(self) -> int:
        return self.cloud.count("dkms", "GetSecretValue")

    def count(self, kind: EventKind) -> int:
        return sum(1 for event in self.events if event.kind is kind)

    def assert_one_decision(self, *, retried: bool) -> None:
        assert self.handler.judgements == 1  # one judgement
        assert self.count(EventKind.KEY_REJECTED) == 1  # one replacement asked for
        assert self.fetches() == self.fetches_before + 1  # and fetched once
        assert self.count(EventKind.RETRY_PERFORMED) == (1 if retried else 0)
        assert self.provider.status().counters["retries"] == (1 if retried else 0)


@pytest.fixture
def cloud(local_aliyun: LocalAliyun) -> LocalAliyun:
    local_aliyun.create_bucket(BUCKET)
    return local_aliyun


@pytest.fixture(params=sorted(ADAPTERS))
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_revoked_key_is_retried_once_through_the_one_decision(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider], adapter: str
) -> None:
    cloud.create_ram_secret(SECRET)
    scene = Scene(cloud, make_provider(cloud), adapter)
    cloud.rotate(SECRET)  # the old key is revoked at once
    scene.call()
    scene.assert_one_decision(retried=True)


def test_an_unchanged_replacement_is_not_retried(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider], adapter: str
) -> None:
    cloud.create_ram_secret(SECRET)
    scene = Scene(cloud, make_provider(cloud), adapter)
    cloud.disable_key(scene.used.access_key_id)  # rejected, and the secret still holds it
    with pytest.raises(Exception):  # noqa: B017 - each SDK raises its own type; the counts below matter
        scene.call()
    scene.assert_one_decision(retried=False)


def test_a_new_secret_under_the_same_key_id_is_retried(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider], adapter: str
) -> None:
    cloud.create_ram_secret(SECRET)
    scene = Scene(cloud, make_provider(cloud), adapter)
    cloud.reissue(SECRET, new_secret=True, new_token=False)
    scene.call()
    scene.assert_one_decision(retried=True)
    fresh = scene.provider.get(SECRET)
    assert fresh.access_key_id == scene.used.access_key_id
    assert fresh.access_key_secret != scene.used.access_key_secret


def test_a_new_token_under_the_same_key_id_is_retried(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider], adapter: str
) -> None:
    cloud.create_ram_secret(SECRET, with_sts_token=True)
    scene = Scene(cloud, make_provider(cloud), adapter)
    cloud.reissue(SECRET, new_secret=False, new_token=True)
    scene.call()
    scene.assert_one_decision(retried=True)
    fresh = scene.provider.get(SECRET)
    assert (fresh.access_key_id, fresh.access_key_secret) == (
        scene.used.access_key_id,
        scene.used.access_key_secret,
    )
    assert fresh.security_token != scene.used.security_token


def test_a_rejected_sts_token_replaced_by_a_permanent_key_is_retried_without_the_token(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider], adapter: str
) -> None:
    """The first attempt carried a SecurityToken; the replacement has none, and a token sent with a
    permanent key is refused: the retry must not reuse the first attempt's token parameter/header."""
    cloud.create_ram_secret(SECRET, with_sts_token=True)
    scene = Scene(cloud, make_provider(cloud), adapter)
    secret = cloud.state.get_secret(SECRET)
    assert secret is not None
    secret.with_sts_token = False  # the next version is a RAM user's AccessKey
    cloud.rotate(SECRET)  # and the STS key is revoked at once
    if adapter == "oss-v2":
        # The SDK re-sends the first attempt's request with its x-oss-security-token header (its
        # signer never removes one): no retry for this operation; the next one signs cleanly.
        with pytest.raises(oss.exceptions.OperationError):
            scene.call()
        scene.assert_one_decision(retried=False)
        scene.call()
        assert cloud.count("oss", None, scene.provider.get(SECRET).access_key_id) == 1
    else:
        scene.call()
        scene.assert_one_decision(retried=True)
    assert scene.provider.get(SECRET).security_token is None


def test_a_retry_rejected_in_turn_is_not_retried_again(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider], adapter: str
) -> None:
    """One retry per call: the replacement is revoked as soon as it has been fetched (a second
    rotation), so the retry is rejected too, and the call fails with no second fetch or retry."""
    cloud.create_ram_secret(SECRET)
    scene = Scene(cloud, make_provider(cloud), adapter)
    rotations: list[object] = []

    def rotate_again(name: str, old: object, new: object) -> None:
        if not rotations:
            rotations.append(cloud.rotate(SECRET))  # revokes the replacement just installed

    scene.provider.add_listener(rotate_again, secret_name=SECRET)
    cloud.rotate(SECRET)
    with pytest.raises(Exception):  # noqa: B017 - each SDK raises its own type; the counts below matter
        scene.call()
    assert len(rotations) == 1
    assert scene.fetches() == scene.fetches_before + 1
    assert scene.count(EventKind.KEY_REJECTED) == 1
    assert scene.count(EventKind.RETRY_PERFORMED) == 1


# -- the decision itself ---------------------------------------------------------------------------


class Rejected(Exception):
    code = "InvalidAccessKeyId.NotFound"


@pytest.fixture
def provider(cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]) -> CredentialsProvider:
    cloud.create_ram_secret(SECRET)
    return make_provider(cloud)


def test_not_a_rejection_asks_for_nothing(cloud: LocalAliyun, provider: CredentialsProvider) -> None:
    used = provider.get(SECRET)
    cloud.rotate(SECRET)
    handler = CountingHandler()
    assert retry.decide_retry(provider, SECRET, used, ValueError("boom"), handler) is None
    assert handler.judgements == 1
    assert cloud.count("dkms", "GetSecretValue") == 1


def test_a_raising_handler_means_no_retry(cloud: LocalAliyun, provider: CredentialsProvider) -> None:
    used = provider.get(SECRET)
    cloud.rotate(SECRET)

    def broken(error: BaseException) -> bool:
        raise RuntimeError("a faulty handler")

    from common_plugin.ak_expire_handler import as_expire_handler

    handler = as_expire_handler(broken, CountingHandler())
    assert retry.decide_retry(provider, SECRET, used, Rejected(), handler) is None
    assert cloud.count("dkms", "GetSecretValue") == 1


def test_a_closed_provider_means_no_retry(cloud: LocalAliyun, provider: CredentialsProvider) -> None:
    used = provider.get(SECRET)
    provider.close()
    assert retry.decide_retry(provider, SECRET, used, Rejected(), CountingHandler()) is None


def test_a_body_that_cannot_be_rewound_cancels_the_retry_but_keeps_the_new_key(
    cloud: LocalAliyun, provider: CredentialsProvider
) -> None:
    used = provider.get(SECRET)
    cloud.rotate(SECRET)
    events: list[CredentialEvent] = []
    provider.add_event_listener(events.append)
    rewinds: list[int] = []

    def rewind() -> bool:
        rewinds.append(1)
        return False

    assert retry.decide_retry(provider, SECRET, used, Rejected(), CountingHandler(), rewind=rewind) is None
    assert rewinds == [1]
    assert provider.get(SECRET).access_key_id == cloud.current_key(SECRET).access_key_id
    assert [e.kind for e in events if e.kind is EventKind.RETRY_PERFORMED] == []


def test_the_async_twin_follows_the_same_rule(cloud: LocalAliyun, provider: CredentialsProvider) -> None:
    used = provider.get(SECRET)
    handler = CountingHandler()

    async def decide(error: BaseException) -> ManagedCredential | None:
        return await decide_retry_async(provider, SECRET, used, error, handler)

    assert asyncio.run(decide(ValueError("not a rejection"))) is None
    cloud.disable_key(used.access_key_id)
    assert asyncio.run(decide(Rejected())) is None  # the same key came back
    cloud.reissue(SECRET, new_secret=True, new_token=False)
    provider.forget(SECRET)  # past the suppression of the unchanged key: ask afresh
    fresh = asyncio.run(decide(Rejected()))
    assert fresh is not None and fresh.access_key_id == used.access_key_id
    assert handler.judgements == 3
    assert provider.status().counters["retries"] == 1


def test_the_async_twin_says_no_retry_when_the_provider_was_closed(
    cloud: LocalAliyun, provider: CredentialsProvider
) -> None:
    used = provider.get(SECRET)
    provider.close()
    decided = asyncio.run(decide_retry_async(provider, SECRET, used, Rejected(), CountingHandler()))
    assert decided is None


def test_the_provider_synonyms_are_deprecated(cloud: LocalAliyun, provider: CredentialsProvider) -> None:
    used = provider.get(SECRET)
    cloud.rotate(SECRET)
    with pytest.warns(DeprecationWarning, match="common_plugin.retry.decide_retry"):
        fresh = provider.retry_credential(SECRET, used)
    assert fresh is not None and fresh.access_key_id != used.access_key_id
    with pytest.warns(DeprecationWarning, match="common_plugin.retry"):
        provider.record_retry(SECRET, fresh)
    assert provider.status().counters["retries"] == 1

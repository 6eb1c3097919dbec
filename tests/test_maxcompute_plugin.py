"""maxcompute_plugin with the real PyODPS ``ODPS`` entry object against the emulated MaxCompute REST
API, fetching secrets from the emulated DKMS over the real wire; the emulator checks every signature
against the keys valid now and counts requests per AccessKeyId."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterator

import pytest
from odps import ODPS, errors
from odps.accounts import CloudAccount

import maxcompute_plugin
from common_plugin.exceptions import ProviderClosedError
from common_plugin.manager import ProviderManager
from common_plugin.provider import CredentialsProvider
from common_plugin.scheduler import ManualScheduler
from common_plugin.sources.dkms import DkmsSource
from common_plugin.testing.emulator import LocalAliyun
from maxcompute_plugin import ManagedOdpsAccount, ManagedRestClient, MaxComputeAKExpireHandler, ProxyOdps

PROJECT = "analytics"
TABLE = "events"
_NAMES = itertools.count(1)


# ---- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalAliyun]:
    with LocalAliyun() as emulator:
        emulator.create_maxcompute_table(PROJECT, TABLE, [("id", "bigint"), ("name", "string")])
        emulator.create_maxcompute_table(PROJECT, "users")
        yield emulator


@pytest.fixture(scope="module")
def source(cloud: LocalAliyun) -> Iterator[DkmsSource]:
    assert cloud.client_key_password_file
    dkms = DkmsSource(
        region_id=cloud.region_id,
        endpoint=cloud.dkms_endpoint or "",
        client_key_content=cloud.client_key.to_json(),
        password=cloud.client_key_password_file.read_text(),
        ca_file_path=str(cloud.ca_file),
    )
    yield dkms
    dkms.close()


@pytest.fixture
def secret(cloud: LocalAliyun) -> str:
    name = f"odps-app-{next(_NAMES)}"
    cloud.create_ram_secret(name)
    cloud.reset_counters()
    return name


@pytest.fixture
def provider(source: DkmsSource) -> Iterator[CredentialsProvider]:
    with CredentialsProvider(source, scheduler=ManualScheduler()) as built:
        yield built


@pytest.fixture
def manager(source: DkmsSource, monkeypatch: pytest.MonkeyPatch) -> Iterator[ProviderManager]:
    from common_plugin.adapters import pinned

    fresh = ProviderManager(lambda: CredentialsProvider(source, scheduler=ManualScheduler()))
    monkeypatch.setattr(pinned, "default_manager", lambda: fresh)
    yield fresh
    current = fresh.peek()
    if current is not None:
        current.close()


def fetches(cloud: LocalAliyun) -> int:
    return cloud.count("dkms", "GetSecretValue")


def make_odps(
    cloud: LocalAliyun, secret: str, provider: CredentialsProvider | None, **kwargs: object
) -> ProxyOdps:
    return ProxyOdps(
        secret, PROJECT, cloud.maxcompute_url, provider=provider, overwrite_global=False, **kwargs
    )


# ---- public surface --------------------------------------------------------------------------


def test_public_api() -> None:
    assert maxcompute_plugin.__all__ == sorted(maxcompute_plugin.__all__)
    assert set(maxcompute_plugin.__all__) == {
        "ManagedOdpsAccount",
        "ManagedRestClient",
        "MaxComputeAKExpireHandler",
        "ProxyOdps",
    }


def test_constructor_validation_takes_no_lease(manager: ProviderManager, cloud: LocalAliyun) -> None:
    with pytest.raises(ValueError, match="secret_name"):
        ProxyOdps("", PROJECT, cloud.maxcompute_url)
    with pytest.raises(TypeError, match="ak_expire_handler"):
        ProxyOdps("s", PROJECT, cloud.maxcompute_url, ak_expire_handler=42)
    assert manager.peek() is None


def test_default_handler_judgement() -> None:
    handler = MaxComputeAKExpireHandler()
    revoked = errors.InvalidParameter(
        "ODPS-0410051:Invalid credentials - accessKeyId not found", code="InvalidParameter"
    )
    assert handler.judge_ak_expire(revoked)
    assert handler.judge_ak_expire(errors.ODPSError("m", code="ODPS-0410051: Invalid credentials - "))
    assert handler.judge_ak_expire(
        errors.AuthenticationRequestExpired("m", code="AuthenticationRequestExpired")
    )
    wrong_secret = errors.SignatureNotMatch("ODPS-0410042:Invalid signature value", code="SignatureNotMatch")
    assert not handler.judge_ak_expire(wrong_secret)
    assert not handler.judge_ak_expire(
        errors.InvalidParameter("ODPS-0420061:Invalid parameter", code="InvalidParameter")
    )
    assert not handler.judge_ak_expire(
        errors.NoPermission("ODPS-0420095: Access Denied", code="NoPermission")
    )
    assert MaxComputeAKExpireHandler("ODPS-0420095").judge_ak_expire(errors.NoPermission("ODPS-0420095: x"))


def test_repr_and_pickling_show_no_secret(
    cloud: LocalAliyun, secret: str, provider: CredentialsProvider
) -> None:
    odps = make_odps(cloud, secret, provider)
    credential = provider.get(secret)
    for text in (repr(odps), repr(odps.account)):
        assert secret in text and credential.access_key_secret not in text
    with pytest.raises(TypeError, match="cannot be pickled"):
        odps.account.__reduce__()


# ---- representative calls with a managed key -------------------------------------------------


@pytest.mark.parametrize("region_name", [None, "cn-hangzhou"], ids=["v2", "v4"])
def test_project_and_table_calls_with_a_managed_key(
    cloud: LocalAliyun, secret: str, provider: CredentialsProvider, region_name: str | None
) -> None:
    odps = make_odps(cloud, secret, provider, region_name=region_name)
    assert odps.exist_table(TABLE) is True
    assert odps.exist_table("missing") is False
    assert sorted(table.name for table in odps.list_tables()) == [TABLE, "users"]
    assert [column.name for column in odps.get_table(TABLE).table_schema.columns] == ["id", "name"]
    project = odps.get_project()
    project.reload()
    assert project.name == PROJECT
    key = provider.get(secret).access_key_id
    assert cloud.count("maxcompute", access_key_id=key) == cloud.count("maxcompute") > 0
    assert cloud.state.error_count("maxcompute", "SignatureNotMatch") == 0
    assert fetches(cloud) == 1


def test_a_wrong_secret_is_refused_by_the_emulator(cloud: LocalAliyun) -> None:
    """The emulator's signature check can fail: a right AccessKeyId with a wrong secret is refused."""
    key = cloud.state.create_access_key()
    wrong = ODPS(
        CloudAccount(key.access_key_id, key.access_key_secret + "x"),
        project=PROJECT,
        endpoint=cloud.maxcompute_url,
        overwrite_global=False,
    )
    with pytest.raises(errors.SignatureNotMatch) as raised:
        wrong.get_table(TABLE).reload()
    assert raised.value.status_code == 401 and "ODPS-0410042" in str(raised.value)
    right = ODPS(
        CloudAccount(key.access_key_id, key.access_key_secret),
        project=PROJECT,
        endpoint=cloud.maxcompute_url,
        overwrite_global=False,
    )
    assert right.exist_table(TABLE) is True


def test_a_revoked_or_disabled_key_is_refused_with_invalid_credentials(cloud: LocalAliyun) -> None:
    key = cloud.state.create_access_key()
    odps = ODPS(
        CloudAccount(key.access_key_id, key.access_key_secret),
        project=PROJECT,
        endpoint=cloud.maxcompute_url,
        overwrite_global=False,
    )
    cloud.disable_key(key.access_key_id)
    with pytest.raises(errors.InvalidParameter, match="ODPS-0410051"):
        odps.get_table(TABLE).reload()
    cloud.revoke_key(key.access_key_id)
    with pytest.raises(
        errors.InvalidParameter, match="ODPS-0410051:Invalid credentials - accessKeyId not found"
    ):
        odps.get_table(TABLE).reload()


def test_the_account_alone_follows_refreshes(
    cloud: LocalAliyun, secret: str, provider: CredentialsProvider
) -> None:
    account = ManagedOdpsAccount(secret, provider=provider)
    odps = ODPS(
        account, project=PROJECT, endpoint=cloud.maxcompute_url, overwrite_global=False
    )  # the SDK's own RestClient
    assert odps.exist_table(TABLE)
    cloud.rotate(secret)
    provider.refresh(secret)  # the proactive path: no retry needed
    assert odps.exist_table(TABLE)
    assert cloud.state.error_count("maxcompute") == 0


# ---- rotation and retry ----------------------------------------------------------------------


def test_a_revoked_key_refreshes_once_and_retries_once(
    cloud: LocalAliyun, secret: str, provider: CredentialsProvider, caplog: pytest.LogCaptureFixture
) -> None:
    odps = make_odps(cloud, secret, provider)
    assert odps.exist_table(TABLE)
    old = provider.get(secret)
    cloud.reset_counters()
    cloud.rotate(secret)  # the old key is deleted at once

    with caplog.at_level(logging.INFO, logger="common_plugin.retry"):
        assert odps.exist_table(TABLE)
    new = provider.get(secret)
    assert new.access_key_id != old.access_key_id
    assert cloud.count("maxcompute", "GetTable", old.access_key_id) == 1
    assert cloud.count("maxcompute", "GetTable", new.access_key_id) == 1
    assert cloud.state.error_count("maxcompute", "InvalidParameter") == 1
    assert fetches(cloud) == 1 and provider.status().counters["retries"] == 1
    retry_lines = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retry_lines) == 1 and new.masked_access_key_id in retry_lines[0]
    assert new.access_key_secret not in caplog.text


def test_the_retry_signs_with_the_key_the_decision_named(
    cloud: LocalAliyun, secret: str, provider: CredentialsProvider
) -> None:
    """A newer key cached between the decision and the retry (a rotation with grace, picked up by
    another thread) does not change the retry's key: the request is pinned to its replacement."""
    odps = make_odps(cloud, secret, provider)
    assert odps.exist_table(TABLE)
    newer: list[str] = []

    def rotate_again(name: str, old: object, new: object) -> None:
        if not newer:
            cloud.rotate(secret, grace_seconds=3600)
            newer.append(provider.refresh(secret).access_key_id)

    provider.add_listener(rotate_again, secret_name=secret)
    cloud.rotate(secret)
    named = cloud.current_key(secret).access_key_id
    assert odps.exist_table(TABLE)
    assert cloud.count("maxcompute", "GetTable", named) == 1
    assert cloud.count("maxcompute", "GetTable", newer[0]) == 0
    assert provider.status().counters["retries"] == 1


def test_a_new_secret_under_the_same_key_id_is_retried(
    cloud: LocalAliyun, secret: str, provider: CredentialsProvider
) -> None:
    """What PyODPS's own CredentialProviderAccount misses: same AccessKeyId, new AccessKeySecret. The
    old secret's requests fail with SignatureNotMatch, which the default handler leaves alone (a wrong
    secret is not cured by a refresh), so this application opts in to judging it a rejected key."""
    odps = make_odps(
        cloud, secret, provider, ak_expire_handler=MaxComputeAKExpireHandler("SignatureNotMatch")
    )
    assert odps.exist_table(TABLE)
    old = provider.get(secret)
    cloud.reissue(secret, new_secret=True, new_token=False)  # the old secret stops working at once
    assert odps.exist_table(TABLE)
    new = provider.get(secret)
    assert new.access_key_id == old.access_key_id and new.access_key_secret != old.access_key_secret
    assert provider.status().counters["retries"] == 1


def test_an_sts_key_sends_its_token_and_a_reissued_token_is_retried(
    cloud: LocalAliyun, provider: CredentialsProvider
) -> None:
    name = f"odps-sts-{next(_NAMES)}"
    cloud.create_ram_secret(name, with_sts_token=True)
    odps = make_odps(cloud, name, provider)
    assert odps.exist_table(TABLE)  # the emulator refuses an STS key without its token
    cloud.reissue(name, new_secret=False, new_token=True)
    assert odps.exist_table(TABLE)
    assert provider.status().counters["retries"] == 1


class BarrierHandler(MaxComputeAKExpireHandler):
    """Holds the first ``parties`` judgements until all have arrived: no thread can refresh before
    every call in flight has been rejected, so each of them signed with the revoked key."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(parties)
        self._lock = threading.Lock()
        self.judgements = 0

    def judge_ak_expire(self, exception: BaseException) -> bool:
        with self._lock:
            self.judgements += 1
            wait = self.judgements <= self.barrier.parties
        if wait:
            self.barrier.wait(timeout=30)
        return super().judge_ak_expire(exception)


def test_threads_in_flight_across_an_immediate_revoke_cause_one_fetch_and_one_retry_each(
    cloud: LocalAliyun, secret: str, provider: CredentialsProvider
) -> None:
    threads_count = 12
    handler = BarrierHandler(threads_count)
    odps = make_odps(cloud, secret, provider, ak_expire_handler=handler)
    assert odps.exist_table(TABLE)  # warms the key and PyODPS's tenant options
    old = provider.get(secret)
    cloud.reset_counters()
    cloud.rotate(secret)
    start = threading.Barrier(threads_count)
    results: list[bool] = []
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait(timeout=30)
            results.append(odps.exist_table(TABLE))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == [] and results == [True] * threads_count
    new = provider.get(secret)
    assert fetches(cloud) == 1
    assert handler.judgements == threads_count
    assert cloud.count("maxcompute", "GetTable", old.access_key_id) == threads_count
    assert cloud.count("maxcompute", "GetTable", new.access_key_id) == threads_count
    assert provider.status().counters["retries"] == threads_count


def test_a_handler_saying_no_leaves_the_error_unchanged_and_fetches_nothing(
    cloud: LocalAliyun, secret: str, provider: CredentialsProvider
) -> None:
    seen: list[BaseException] = []

    def never(exception: BaseException) -> bool:
        seen.append(exception)
        return False

    odps = make_odps(cloud, secret, provider, ak_expire_handler=never)
    assert odps.exist_table(TABLE)
    cloud.rotate(secret)
    before = fetches(cloud)
    with pytest.raises(errors.InvalidParameter) as raised:
        odps.get_table(TABLE).reload()
    assert raised.value is seen[-1] and raised.value.__context__ is None
    assert fetches(cloud) == before


def test_not_a_rejected_key_is_not_retried(
    cloud: LocalAliyun, secret: str, provider: CredentialsProvider
) -> None:
    odps = make_odps(cloud, secret, provider)
    with pytest.raises(errors.NoSuchObject):
        odps.get_table("missing").reload()
    assert cloud.count("maxcompute", "GetTable") == 1 and fetches(cloud) == 1
    assert provider.status().counters["retries"] == 0


def test_a_plain_account_keeps_the_sdk_behaviour(cloud: LocalAliyun) -> None:
    key = cloud.state.create_access_key()
    odps = ODPS(
        CloudAccount(key.access_key_id, key.access_key_secret),
        project=PROJECT,
        endpoint=cloud.maxcompute_url,
        overwrite_global=False,
        rest_client_cls=ManagedRestClient,
    )
    assert odps.exist_table(TABLE)
    cloud.revoke_key(key.access_key_id)
    with pytest.raises(errors.InvalidParameter):
        odps.get_table(TABLE).reload()


def test_shutdown_releases_only_its_own_lease(
    manager: ProviderManager, cloud: LocalAliyun, secret: str
) -> None:
    first = make_odps(cloud, secret, None)
    second = make_odps(cloud, secret, None)
    assert first.exist_table(TABLE)
    assert manager.reference_count == 2
    first.shutdown()
    first.shutdown()  # idempotent
    assert manager.reference_count == 1
    with pytest.raises(ProviderClosedError):
        first.get_table(TABLE).reload()
    with second:
        assert second.exist_table(TABLE)
    assert manager.reference_count == 0

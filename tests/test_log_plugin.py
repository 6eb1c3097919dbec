"""log_plugin with the real ``aliyun.log.LogClient`` and logging handlers against the emulated Log
Service, fetching secrets from the emulated DKMS over the real wire; the emulator checks every
signature against the keys valid now and counts requests per AccessKeyId."""

from __future__ import annotations

import itertools
import logging
import logging.config
import threading
import time
from collections.abc import Iterator

import pytest
from aliyun.log import GetLogsRequest, LogClient, LogItem, PutLogsRequest
from aliyun.log.logexception import LogException

import log_plugin
from common_plugin.ak_expire_handler import ErrorCodeExpireHandler
from common_plugin.exceptions import ProviderClosedError
from common_plugin.manager import ProviderManager
from common_plugin.provider import CredentialsProvider
from common_plugin.scheduler import ManualScheduler
from common_plugin.sources.dkms import DkmsSource
from common_plugin.testing.emulator import LocalAliyun
from log_plugin import (
    LogAKExpireHandler,
    ManagedLogCredentialsProvider,
    ManagedQueuedLogHandler,
    ManagedSimpleLogHandler,
    ProxyLogClient,
)

PROJECT = "app-project"
LOGSTORE = "app-logs"
_NAMES = itertools.count(1)


# ---- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalAliyun]:
    with LocalAliyun() as emulator:
        emulator.create_logstore(PROJECT, LOGSTORE)
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
    name = f"sls-app-{next(_NAMES)}"
    cloud.create_ram_secret(name)
    cloud.reset_counters()
    return name


@pytest.fixture
def provider(source: DkmsSource) -> Iterator[CredentialsProvider]:
    with CredentialsProvider(source, scheduler=ManualScheduler()) as built:
        yield built


@pytest.fixture
def manager(source: DkmsSource, monkeypatch: pytest.MonkeyPatch) -> Iterator[ProviderManager]:
    """A fresh process-wide manager for clients built without a provider."""
    from common_plugin.adapters import pinned

    fresh = ProviderManager(lambda: CredentialsProvider(source, scheduler=ManualScheduler()))
    monkeypatch.setattr(pinned, "default_manager", lambda: fresh)
    yield fresh
    current = fresh.peek()
    if current is not None:
        current.close()


def fetches(cloud: LocalAliyun) -> int:
    return cloud.count("dkms", "GetSecretValue")


def make_client(
    cloud: LocalAliyun, secret: str, provider: CredentialsProvider, **kwargs: object
) -> ProxyLogClient:
    client = ProxyLogClient(secret, cloud.log_endpoint, provider=provider, **kwargs)  # type: ignore[arg-type]
    return cloud.configure_log_client(client)  # type: ignore[no-any-return]


def put(client: LogClient, message: str, **contents: str) -> None:
    item = LogItem(timestamp=int(time.time()), contents=[("message", message), *contents.items()])
    client.put_logs(PutLogsRequest(PROJECT, LOGSTORE, "app", "host-1", [item]))


def messages(cloud: LocalAliyun, marker: str) -> list[str]:
    return [
        dict(log.contents)["message"]
        for log in cloud.log_service.logs(PROJECT, LOGSTORE)
        if dict(log.contents).get("marker") == marker
    ]


# ---- public surface --------------------------------------------------------------------------


def test_public_api() -> None:
    assert log_plugin.__all__ == sorted(log_plugin.__all__)
    assert set(log_plugin.__all__) == {
        "LogAKExpireHandler",
        "ManagedLogCredentialsProvider",
        "ManagedQueuedLogHandler",
        "ManagedSimpleLogHandler",
        "ProxyLogClient",
    }


def test_constructor_validation_takes_no_lease(manager: ProviderManager, cloud: LocalAliyun) -> None:
    with pytest.raises(ValueError, match="secret_name"):
        ProxyLogClient("", cloud.log_endpoint)
    with pytest.raises(ValueError, match="auth_version"):
        ProxyLogClient("s", cloud.log_endpoint, auth_version="v3")
    with pytest.raises(ValueError, match="region"):
        ProxyLogClient("s", cloud.log_endpoint, auth_version="v4")
    with pytest.raises(TypeError, match="ak_expire_handler"):
        ProxyLogClient("s", cloud.log_endpoint, ak_expire_handler=42)
    assert manager.peek() is None


def test_repr_shows_no_secret(cloud: LocalAliyun, secret: str, provider: CredentialsProvider) -> None:
    client = make_client(cloud, secret, provider)
    put(client, "x")
    credential = provider.get(secret)
    for text in (repr(client), repr(client.credentials_provider)):
        assert secret in text
        assert credential.access_key_id not in text and credential.access_key_secret not in text


def test_default_handler_judgement() -> None:
    handler = LogAKExpireHandler()
    assert handler.judge_ak_expire(LogException("Unauthorized", "AccessKeyId not found: LTAIx"))
    assert handler.judge_ak_expire(
        LogException("Unauthorized", "The security token you provided has expired.")
    )
    assert handler.judge_ak_expire(LogException("SecurityTokenExpired", "expired"))
    assert handler.judge_ak_expire(LogException("InvalidAccessKeyId", "invalid"))
    # a permission denial and a wrong secret are not cured by a fresh copy of the same key
    denial = "denied by sts or ram, action: log:PostLogStoreLogs, resource: acs:log:cn-hangzhou:1:project/p"
    assert not handler.judge_ak_expire(LogException("Unauthorized", denial))
    assert not handler.judge_ak_expire(LogException("SignatureNotMatch", "signature x not match"))
    assert not handler.judge_ak_expire(LogException("LogStoreNotExist", "logstore x does not exist"))
    assert LogAKExpireHandler("Custom").judge_ak_expire(LogException("Custom", "m"))


# ---- put and get with a managed key ----------------------------------------------------------


@pytest.mark.parametrize("auth_version", ["v1", "v4"])
def test_put_and_get_logs_with_a_managed_key(
    cloud: LocalAliyun, secret: str, provider: CredentialsProvider, auth_version: str
) -> None:
    client = make_client(cloud, secret, provider, auth_version=auth_version, region=cloud.region_id)
    marker = f"put-get-{auth_version}-{secret}"
    put(client, "hello", marker=marker, level="INFO")
    put(client, "world", marker=marker, level="WARN")
    key = provider.get(secret).access_key_id
    assert cloud.count("log", "PutLogs", key) == 2
    assert messages(cloud, marker) == ["hello", "world"]

    now = int(time.time())
    response = client.get_logs(
        GetLogsRequest(PROJECT, LOGSTORE, now - 60, now + 60, query=f"marker: {marker}")
    )
    assert sorted(log.get_contents()["message"] for log in response.get_logs()) == ["hello", "world"]
    assert cloud.count("log", "GetLogs", key) == 1
    assert fetches(cloud) == 1


def test_a_wrong_secret_is_refused_by_the_emulator(cloud: LocalAliyun) -> None:
    """The emulator's signature check can fail: a right AccessKeyId with a wrong secret is refused."""
    key = cloud.state.create_access_key()
    for auth_version in ("v1", "v4"):
        wrong = cloud.configure_log_client(
            LogClient(
                cloud.log_endpoint,
                key.access_key_id,
                key.access_key_secret + "x",
                auth_version=auth_version,
                region=cloud.region_id,
            )
        )
        with pytest.raises(LogException) as raised:
            put(wrong, "never stored")
        assert (raised.value.get_error_code(), raised.value.get_resp_status()) == ("SignatureNotMatch", 401)
    right = cloud.configure_log_client(
        LogClient(cloud.log_endpoint, key.access_key_id, key.access_key_secret)
    )
    put(right, "stored", marker="wrong-secret")
    assert messages(cloud, "wrong-secret") == ["stored"]


def test_an_unknown_or_disabled_key_is_refused_with_the_service_codes(cloud: LocalAliyun) -> None:
    key = cloud.state.create_access_key()
    client = cloud.configure_log_client(
        LogClient(cloud.log_endpoint, key.access_key_id, key.access_key_secret)
    )
    cloud.disable_key(key.access_key_id)
    with pytest.raises(LogException) as raised:
        put(client, "x")
    assert raised.value.get_error_code() == "Unauthorized"
    assert raised.value.get_error_message() == f"AccessKeyId is disabled: {key.access_key_id}"
    cloud.revoke_key(key.access_key_id)
    with pytest.raises(LogException) as raised:
        put(client, "x")
    assert (raised.value.get_error_code(), raised.value.get_resp_status()) == ("Unauthorized", 401)
    assert raised.value.get_error_message() == f"AccessKeyId not found: {key.access_key_id}"


def test_the_credentials_provider_alone_follows_refreshes(
    cloud: LocalAliyun, secret: str, provider: CredentialsProvider
) -> None:
    plain = cloud.configure_log_client(
        LogClient(cloud.log_endpoint, credentials_provider=ManagedLogCredentialsProvider(provider, secret))
    )
    put(plain, "before", marker=secret)
    cloud.rotate(secret)
    provider.refresh(secret)  # the proactive path: no retry needed
    put(plain, "after", marker=secret)
    assert messages(cloud, secret) == ["before", "after"]


# ---- rotation and retry ----------------------------------------------------------------------


def test_a_revoked_key_refreshes_once_and_retries_once(
    cloud: LocalAliyun, secret: str, provider: CredentialsProvider, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(cloud, secret, provider)
    put(client, "warm", marker=secret)
    old = provider.get(secret)
    cloud.rotate(secret)  # the old key is deleted at once

    with caplog.at_level(logging.INFO, logger="common_plugin.retry"):
        put(client, "after revoke", marker=secret)
    new = provider.get(secret)
    assert new.access_key_id != old.access_key_id
    assert cloud.count("log", "PutLogs", old.access_key_id) == 2  # the warm-up and the rejected one
    assert cloud.count("log", "PutLogs", new.access_key_id) == 1
    assert cloud.state.error_count("log", "Unauthorized") == 1
    assert fetches(cloud) == 2
    assert provider.status().counters["retries"] == 1
    assert messages(cloud, secret) == ["warm", "after revoke"]
    assert [log.access_key_id for log in cloud.log_service.logs(PROJECT, LOGSTORE)][-1] == new.access_key_id
    retry_lines = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retry_lines) == 1 and new.masked_access_key_id in retry_lines[0]
    assert new.access_key_id not in caplog.text and new.access_key_secret not in caplog.text


def test_the_retry_signs_with_the_key_the_decision_named(
    cloud: LocalAliyun, secret: str, provider: CredentialsProvider
) -> None:
    """A newer key cached between the decision and the retry (a rotation with grace, picked up by
    another thread) does not change the retry's key: the operation is pinned to its replacement."""
    client = make_client(cloud, secret, provider)
    put(client, "warm", marker=secret)
    newer: list[str] = []

    def rotate_again(name: str, old: object, new: object) -> None:
        if not newer:
            cloud.rotate(secret, grace_seconds=3600)
            newer.append(provider.refresh(secret).access_key_id)

    provider.add_listener(rotate_again, secret_name=secret)
    cloud.rotate(secret)
    named = cloud.current_key(secret).access_key_id
    put(client, "after revoke", marker=secret)
    assert cloud.count("log", "PutLogs", named) == 1
    assert cloud.count("log", "PutLogs", newer[0]) == 0
    assert provider.status().counters["retries"] == 1


def test_a_reissued_sts_token_is_retried(cloud: LocalAliyun, provider: CredentialsProvider) -> None:
    name = f"sls-sts-{next(_NAMES)}"
    cloud.create_ram_secret(name, with_sts_token=True)
    client = make_client(cloud, name, provider)
    put(client, "with token", marker=name)
    cloud.reissue(name, new_secret=False, new_token=True)  # the old token stops working at once
    put(client, "with the new token", marker=name)
    assert messages(cloud, name) == ["with token", "with the new token"]
    assert provider.status().counters["retries"] == 1


class BarrierHandler(ErrorCodeExpireHandler):
    """Holds the first ``parties`` judgements until all have arrived: no thread can refresh before
    every call in flight has been rejected, so each of them signed with the revoked key."""

    def __init__(self, parties: int) -> None:
        super().__init__(("Unauthorized",))
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
    threads_count = 16
    handler = BarrierHandler(threads_count)
    client = make_client(cloud, secret, provider, ak_expire_handler=handler)
    put(client, "warm", marker=secret)
    old = provider.get(secret)
    cloud.reset_counters()
    cloud.rotate(secret)
    start = threading.Barrier(threads_count)
    failures: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            start.wait(timeout=30)
            put(client, f"call-{index}", marker=secret)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    new = provider.get(secret)
    assert fetches(cloud) == 1  # one fetch for all of them
    assert handler.judgements == threads_count
    assert cloud.count("log", "PutLogs", old.access_key_id) == threads_count  # each rejected once
    assert cloud.count("log", "PutLogs", new.access_key_id) == threads_count  # and retried once
    assert provider.status().counters["retries"] == threads_count
    assert sorted(messages(cloud, secret)) == sorted(["warm", *(f"call-{i}" for i in range(threads_count))])


def test_an_operation_whose_body_is_an_empty_dict_is_retried_too(
    cloud: LocalAliyun, secret: str, provider: CredentialsProvider
) -> None:
    """``get_async_sql`` and ``delete_async_sql`` hand ``_send`` the body ``{}`` (0.9.52), which the
    SDK sends as no body at all: nothing to rewind, so the rejection retry must still happen. (The
    emulator has no async SQL: the retry is answered by a fault queued when the new key arrives.)"""
    from aliyun.log.delete_async_sql_request import DeleteAsyncSqlRequest

    from common_plugin.testing import Fault

    client = make_client(cloud, secret, provider)
    put(client, "warm", marker=secret)
    old = provider.get(secret)
    provider.add_listener(
        lambda *_: cloud.inject_fault("log", Fault("status", 400, "QueryNotExist")), secret_name=secret
    )
    cloud.rotate(secret)  # the old key is deleted at once
    with pytest.raises(LogException) as raised:
        client.delete_async_sql(DeleteAsyncSqlRequest(PROJECT, "query-1"))
    new = provider.get(secret)
    assert new.access_key_id != old.access_key_id
    assert raised.value.get_error_code() == "QueryNotExist"  # the retry's answer, not Unauthorized
    assert cloud.count("log", None, old.access_key_id) == 2  # the warm-up and the rejected attempt
    assert cloud.count("log", None, new.access_key_id) == 1
    assert provider.status().counters["retries"] == 1


def test_a_handler_saying_no_leaves_the_error_unchanged_and_fetches_nothing(
    cloud: LocalAliyun, secret: str, provider: CredentialsProvider
) -> None:
    seen: list[BaseException] = []

    def never(exception: BaseException) -> bool:
        seen.append(exception)
        return False

    client = make_client(cloud, secret, provider, ak_expire_handler=never)
    put(client, "warm")
    cloud.rotate(secret)
    with pytest.raises(LogException) as raised:
        put(client, "refused")
    assert raised.value is seen[0] and raised.value.get_error_code() == "Unauthorized"
    assert raised.value.__context__ is None
    assert fetches(cloud) == 1 and cloud.count("log", "PutLogs") == 2


def test_not_a_rejected_key_is_not_retried(
    cloud: LocalAliyun, secret: str, provider: CredentialsProvider
) -> None:
    client = make_client(cloud, secret, provider)
    with pytest.raises(LogException) as raised:
        client.put_logs(PutLogsRequest(PROJECT, "no-such-store", "", "", [LogItem(contents=[("a", "b")])]))
    assert raised.value.get_error_code() == "LogStoreNotExist"
    assert fetches(cloud) == 1 and cloud.count("log", "PutLogs") == 1
    assert provider.status().counters["retries"] == 0


def test_shutdown_releases_only_its_own_lease(
    manager: ProviderManager, cloud: LocalAliyun, secret: str
) -> None:
    first = cloud.configure_log_client(ProxyLogClient(secret, cloud.log_endpoint))
    second = cloud.configure_log_client(ProxyLogClient(secret, cloud.log_endpoint))
    put(first, "one")
    assert manager.reference_count == 2
    first.shutdown()
    first.shutdown()  # idempotent
    assert manager.reference_count == 1
    with pytest.raises(ProviderClosedError):
        put(first, "after shutdown")
    put(second, "still works")
    with second:
        pass
    assert manager.reference_count == 0


# ---- logging handlers ------------------------------------------------------------------------


def _logger(name: str, handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"tests.log_plugin.{name}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return logger


def test_the_queued_handler_ships_records_with_the_managed_key_across_a_rotation(
    cloud: LocalAliyun, secret: str, provider: CredentialsProvider
) -> None:
    handler = ManagedQueuedLogHandler(
        secret, cloud.log_endpoint, PROJECT, LOGSTORE, provider=provider, put_wait=1, close_wait=5
    )
    handler.create_client()
    cloud.configure_log_client(handler.client)
    failed: list[logging.LogRecord] = []
    handler.handleError = failed.append  # type: ignore[method-assign]
    logger = _logger(secret, handler)
    stored_before = len(cloud.log_service.logs(PROJECT, LOGSTORE))
    try:
        logger.info("before the rotation", extra={"marker": secret})
        cloud.log_service.wait_for_logs(PROJECT, LOGSTORE, stored_before + 1)
        old = provider.get(secret)
        cloud.rotate(secret)
        logger.info("after the rotation", extra={"marker": secret})
        cloud.log_service.wait_for_logs(PROJECT, LOGSTORE, stored_before + 2)
    finally:
        logger.removeHandler(handler)
        handler.close()
    new = provider.get(secret)
    shipped = cloud.log_service.logs(PROJECT, LOGSTORE)[stored_before:]
    assert [dict(log.contents)["message"] for log in shipped] == ["before the rotation", "after the rotation"]
    assert [log.access_key_id for log in shipped] == [old.access_key_id, new.access_key_id]
    assert failed == []
    assert provider.status().counters["retries"] == 1 and fetches(cloud) == 2
    assert handler.client is None  # closed: the lease is released


def test_the_simple_handler_from_dict_config_takes_a_secret_name(
    manager: ProviderManager, cloud: LocalAliyun, secret: str
) -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "incremental": False,
            "disable_existing_loggers": False,
            "handlers": {
                "sls": {
                    "class": "log_plugin.ManagedSimpleLogHandler",
                    "secret_name": secret,
                    "end_point": cloud.log_endpoint,
                    "project": PROJECT,
                    "log_store": LOGSTORE,
                }
            },
            "loggers": {"tests.log_plugin.dict": {"handlers": ["sls"], "level": "INFO", "propagate": False}},
        }
    )
    logger = logging.getLogger("tests.log_plugin.dict")
    (handler,) = logger.handlers
    assert isinstance(handler, ManagedSimpleLogHandler) and secret in repr(handler)
    try:
        handler.create_client()
        cloud.configure_log_client(handler.client)
        logger.info("configured without a key", extra={"marker": secret})
        cloud.rotate(secret)
        logger.info("and after a rotation", extra={"marker": secret})
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert messages(cloud, secret) == ["configured without a key", "and after a rotation"]
    assert manager.reference_count == 0

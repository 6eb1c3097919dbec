"""A deadline on every fetch (issue 13, item 2): one gateway request, and the whole fetch.

The slow server is the emulator's ``trickle`` fault: the reply goes out one byte every half second,
so each socket read is quick and only a total deadline can end the request. The tests assert the
typed error and what the emulator observed, never a duration; a generous safety join keeps a
regression from hanging the suite.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aliyunsdkcore.client import AcsClient
from aliyunsdkkms.request.v20160120.GetSecretValueRequest import GetSecretValueRequest

from common_plugin.config import load_config
from common_plugin.credentials import SecretValue
from common_plugin.exceptions import ConfigError, FetchDeadlineError, SecretFetchError
from common_plugin.provider import CredentialsProvider
from common_plugin.sources.acs_transport import install_deadline_transport
from common_plugin.sources.base import SecretSource
from common_plugin.sources.deadline import current_deadline, deadline_scope, seconds_left
from common_plugin.sources.failover import FailoverSource
from common_plugin.testing import Fault, LocalAliyun

SECRET = "app-key"
SAFETY_SECONDS = 60.0  # only so that a regression fails instead of hanging; never a threshold
TRICKLE = Fault("trickle", seconds=0.5, chunk_bytes=1)

MakeProvider = Callable[..., CredentialsProvider]


def run_with_safety_timeout(call: Callable[[], object]) -> BaseException | object:
    """``call()`` in a thread; its result or exception. Fails the test if it is still running after
    ``SAFETY_SECONDS`` (the deadline did not hold)."""
    outcome: list[BaseException | object] = []

    def target() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(SAFETY_SECONDS)
    assert not thread.is_alive(), "the fetch outlived its deadline"
    return outcome[0]


@pytest.fixture
def cloud(local_aliyun: LocalAliyun) -> LocalAliyun:
    local_aliyun.create_ram_secret(SECRET)
    return local_aliyun


# -- the emulator's trickle fault -----------------------------------------------------------------


def _acs_client(cloud: LocalAliyun) -> AcsClient:
    key = cloud.gateway_access_key
    assert key is not None
    client = AcsClient(key.access_key_id, key.access_key_secret, cloud.region_id, verify=str(cloud.ca_file))
    return cloud.configure_acs_client(client)


def _get_secret(client: AcsClient) -> dict[str, Any]:
    request = GetSecretValueRequest()
    request.set_SecretName(SECRET)
    reply: dict[str, Any] = json.loads(client.do_action_with_exception(request))
    return reply


def test_trickle_sends_the_whole_reply_a_few_bytes_at_a_time(cloud: LocalAliyun) -> None:
    cloud.inject_fault("kms", Fault("trickle", seconds=0.001, chunk_bytes=64), action="GetSecretValue")
    reply = _get_secret(_acs_client(cloud))  # byte-exact: status line, headers and JSON body intact
    assert json.loads(reply["SecretData"])["AccessKeyId"] == cloud.current_key(SECRET).access_key_id
    assert cloud.count("kms", "GetSecretValue") == 1


def test_stop_ends_a_trickle_in_progress(cloud: LocalAliyun) -> None:
    cloud.inject_fault("kms", TRICKLE, action="GetSecretValue")
    client = _acs_client(cloud)
    outcome: list[object] = []

    def read() -> None:
        try:
            outcome.append(_get_secret(client))
        except Exception as exc:  # noqa: BLE001 - whatever the SDK makes of a reply cut short
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while cloud.count("kms", "GetSecretValue") == 0:  # counted before the first byte goes out
        threading.Event().wait(0.01)
    stopper = threading.Thread(target=cloud.stop, daemon=True)
    stopper.start()
    stopper.join(SAFETY_SECONDS)
    assert not stopper.is_alive()  # the trickling handler noticed the stop and was joined
    reader.join(SAFETY_SECONDS)
    assert not reader.is_alive() and isinstance(outcome[0], Exception)  # the reply was cut short


# -- the deadline scope ----------------------------------------------------------------------------


def test_a_deadline_scope_nests_to_the_nearer_deadline() -> None:
    assert current_deadline() is None and seconds_left() is None
    with deadline_scope(1000.0) as outer:
        with deadline_scope(5.0) as inner:
            assert inner < outer and current_deadline() == inner
            with deadline_scope(50.0) as nested:
                assert nested == inner  # a request never outlives the fetch it belongs to
        assert current_deadline() == outer
    assert current_deadline() is None


def test_a_deadline_belongs_to_its_thread() -> None:
    seen: list[float | None] = []
    with deadline_scope(5.0):
        other = threading.Thread(target=lambda: seen.append(current_deadline()))
        other.start()
        other.join()
    assert seen == [None]


# -- the whole fetch: FailoverSource on a manual monotonic clock ----------------------------------


class SlowFailingSource(SecretSource):
    """Each request 'takes' ``cost`` seconds of the manual clock and fails retryably; records the
    deadline each request ran under."""

    def __init__(self, clock: list[float], cost: float) -> None:
        self.clock = clock
        self.cost = cost
        self.calls = 0
        self.time_left: list[float | None] = []

    def get_secret_value(self, secret_name: str) -> SecretValue:
        self.calls += 1
        self.time_left.append(seconds_left())
        self.clock[0] += self.cost
        raise SecretFetchError("503", secret_name=secret_name, code="ServiceUnavailable", retryable=True)


def _failover(source: SecretSource, clock: list[float], **kwargs: Any) -> tuple[FailoverSource, list[float]]:
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    failover = FailoverSource(
        [source], sleep=sleep, rng=random.Random(1), monotonic=lambda: clock[0], **kwargs
    )
    return failover, slept


def test_the_whole_fetch_stops_when_its_time_is_gone() -> None:
    clock = [0.0]
    source = SlowFailingSource(clock, cost=3.0)
    failover, slept = _failover(source, clock, max_attempts=10, total_timeout_seconds=5.0)
    with pytest.raises(FetchDeadlineError) as info:
        failover.get_secret_value(SECRET)
    assert source.calls == 2  # 0 s and 3 s (+ backoff); at 6 s nothing is left of the 5 s
    assert info.value.timeout_seconds == 5.0 and info.value.code == "DeadlineExceeded"
    assert "fetch_timeout=5s" in str(info.value) and "ServiceUnavailable" not in info.value.code
    assert len(slept) == 1
    # each request ran within what was left of the fetch, not a fresh allowance
    first, second = source.time_left
    assert first is not None and second is not None
    assert first <= 5.0 and second <= 5.0 - 3.0


def test_no_backoff_is_slept_past_the_deadline() -> None:
    clock = [0.0]
    source = SlowFailingSource(clock, cost=4.99)
    failover, slept = _failover(
        source, clock, max_attempts=10, total_timeout_seconds=5.0, backoff_base_seconds=1.0
    )
    with pytest.raises(FetchDeadlineError):
        failover.get_secret_value(SECRET)
    assert source.calls == 1 and slept == []  # 0.01 s left cannot hold a backoff


def test_without_a_total_bound_every_attempt_runs() -> None:
    clock = [0.0]
    source = SlowFailingSource(clock, cost=3.0)
    failover, _ = _failover(source, clock, max_attempts=4)
    with pytest.raises(SecretFetchError) as info:
        failover.get_secret_value(SECRET)
    assert not isinstance(info.value, FetchDeadlineError)
    assert source.calls == 4 and source.time_left == [None] * 4


# -- configuration -----------------------------------------------------------------------------


def _config(cloud: LocalAliyun, tmp_path: Path, **extra: str) -> Any:
    return load_config(cloud.write_properties(tmp_path / "p.properties", mode="gateway", extra=extra))


def test_fetch_timeout_defaults_to_request_timeout_times_attempts(cloud: LocalAliyun, tmp_path: Path) -> None:
    config = _config(cloud, tmp_path, request_timeout="3", max_fetch_attempts="5")
    assert config.fetch_timeout_seconds == config.fetch_deadline_seconds == 15.0
    assert _config(cloud, tmp_path, fetch_timeout="1m").fetch_deadline_seconds == 60.0


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"fetch_timeout": "soon"}, "fetch_timeout: must be a positive duration"),
        ({"fetch_timeout": "0"}, "fetch_timeout: must be a positive duration"),
        ({"request_timeout": "10", "fetch_timeout": "5s"}, "must not be shorter than request_timeout"),
    ],
)
def test_a_bad_fetch_timeout_is_named(
    cloud: LocalAliyun, tmp_path: Path, extra: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        _config(cloud, tmp_path, **extra)
    assert info.value.key == "fetch_timeout"


# -- the gateway source against a trickling server ------------------------------------------------


def test_the_gateway_transport_is_installed_on_the_client_session(cloud: LocalAliyun) -> None:
    # Pins the requests/urllib3 extension points the deadline relies on (aliyunsdkcore 2.16.1).
    client = _acs_client(cloud)
    install_deadline_transport(client)
    adapter = client.session.get_adapter("https://127.0.0.1/")
    pools = adapter.poolmanager.pool_classes_by_scheme
    assert {scheme: pools[scheme].ConnectionCls.__name__.startswith("Deadline") for scheme in pools} == {
        "http": True,
        "https": True,
    }
    assert _get_secret(client)["SecretName"] == SECRET  # keep-alive and TLS still work through it
    assert _get_secret(client)["SecretName"] == SECRET


def test_get_against_a_trickling_gateway_raises_a_deadline_error(
    cloud: LocalAliyun, make_provider: MakeProvider
) -> None:
    provider = make_provider(cloud, mode="gateway", request_timeout="2", max_fetch_attempts="1")
    cloud.inject_fault("kms", TRICKLE, count=None, action="GetSecretValue")
    outcome = run_with_safety_timeout(lambda: provider.get(SECRET))
    assert isinstance(outcome, FetchDeadlineError), outcome
    assert isinstance(outcome, SecretFetchError) and outcome.timeout_seconds == 2.0
    assert "within 2s" in str(outcome) and outcome.secret_name == SECRET
    assert cloud.count("kms", "GetSecretValue") == 1  # the emulator saw the request and trickled


def test_the_whole_fetch_is_bounded_across_attempts(cloud: LocalAliyun, make_provider: MakeProvider) -> None:
    provider = make_provider(
        cloud, mode="gateway", request_timeout="2", fetch_timeout="3", max_fetch_attempts="4"
    )
    cloud.inject_fault("kms", TRICKLE, count=None, action="GetSecretValue")
    outcome = run_with_safety_timeout(lambda: provider.get(SECRET))
    assert isinstance(outcome, FetchDeadlineError), outcome
    assert outcome.timeout_seconds == 3.0 and "fetch_timeout=3s" in str(outcome)
    assert 1 <= cloud.count("kms", "GetSecretValue") < 4  # the time ran out before the attempts did
    cloud.clear_faults()
    assert provider.get(SECRET).access_key_id == cloud.current_key(SECRET).access_key_id

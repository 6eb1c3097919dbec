"""Fault injection and counters of the emulator's HTTP layer, seen through the real ``AcsClient``."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkkms.request.v20160120.GetSecretValueRequest import GetSecretValueRequest

from common_plugin.testing import THROTTLING, Fault, LocalAliyun
from common_plugin.testing import server as server_module

LONG_LATENCY = 600.0  # seconds: never waited out, stop() cuts it short
SAFETY_NET = 60.0  # seconds; only reached when stop() is broken


def _client(cloud: LocalAliyun, **kwargs: Any) -> AcsClient:
    key = cloud.gateway_access_key
    assert key is not None
    client = AcsClient(
        key.access_key_id, key.access_key_secret, cloud.region_id, verify=str(cloud.ca_file), **kwargs
    )
    return cloud.configure_acs_client(client)


def _get(client: AcsClient) -> bytes:
    request = GetSecretValueRequest()
    request.set_SecretName("db")
    result: bytes = client.do_action_with_exception(request)
    return result


@pytest.fixture
def cloud(local_aliyun_factory: Callable[..., LocalAliyun]) -> LocalAliyun:
    cloud = local_aliyun_factory(seed=7)
    cloud.create_generic_secret("db", "s3cr3t")
    return cloud


def test_status_fault_is_served_once_and_counted(cloud: LocalAliyun) -> None:
    cloud.inject_fault("kms", Fault("status", status=503, code="ServiceUnavailable"))
    client = _client(cloud)
    with pytest.raises(ServerException) as info:
        _get(client)
    assert (info.value.get_error_code(), info.value.get_http_status()) == ("ServiceUnavailable", 503)
    assert cloud.count("kms", "GetSecretValue") == 1  # KMS is not retried by AcsClient
    assert json.loads(_get(client))["SecretData"] == "s3cr3t"
    assert cloud.count("kms", "GetSecretValue") == 2


def test_throttling(cloud: LocalAliyun) -> None:
    cloud.inject_fault("kms", THROTTLING)
    with pytest.raises(ServerException) as info:
        _get(_client(cloud))
    assert (info.value.get_error_code(), info.value.get_http_status()) == ("Rejected.Throttling", 429)
    assert info.value.get_error_msg() == "QPS Limit Exceeded"


def test_reset_becomes_an_http_error(cloud: LocalAliyun) -> None:
    cloud.inject_fault("kms", Fault("reset"))
    client = _client(cloud)
    with pytest.raises(ClientException) as info:
        _get(client)
    assert info.value.get_error_code() == "SDK.HttpError"
    assert cloud.count("kms", "GetSecretValue") == 1
    assert json.loads(_get(client))["SecretName"] == "db"  # the next request is fine


def test_truncated_body_reaches_the_caller_cut_short(cloud: LocalAliyun) -> None:
    # AcsClient's vendored urllib3 does not enforce Content-Length: it returns the half body as a 200.
    cloud.inject_fault("kms", Fault("truncate"))
    client = _client(cloud)
    body = _get(client)
    with pytest.raises(ValueError):
        json.loads(body)
    assert body.startswith(b'{"SecretName"')
    assert cloud.count("kms", "GetSecretValue") == 1
    assert json.loads(_get(client))["SecretName"] == "db"


def test_garbage_body(cloud: LocalAliyun) -> None:
    cloud.inject_fault("kms", Fault("garbage"))
    body = _get(_client(cloud))
    with pytest.raises(ValueError):
        json.loads(body)


def test_latency_fault(cloud: LocalAliyun) -> None:
    # Far beyond the client's 0.1 s timeout, so no amount of load can make the answer arrive first;
    # stop() cuts the wait short, so the teardown does not pay for it.
    cloud.inject_fault("kms", Fault("latency", seconds=LONG_LATENCY))
    with pytest.raises(ClientException) as info:
        _get(_client(cloud, timeout=0.1))
    assert info.value.get_error_code() == "SDK.HttpError"
    assert cloud.state.faults["kms"].take() is None  # the one planned latency was used up

    cloud.inject_fault("kms", Fault("latency", seconds=0.05))  # shorter than the timeout: served late
    assert json.loads(_get(_client(cloud)))["SecretName"] == "db"
    assert cloud.state.faults["kms"].take() is None


def test_stop_cuts_a_latency_fault_short(local_aliyun_factory: Callable[..., LocalAliyun]) -> None:
    cloud = local_aliyun_factory()
    cloud.create_generic_secret("db", "x")
    cloud.inject_fault("kms", Fault("latency", seconds=LONG_LATENCY))
    with pytest.raises(ClientException):
        _get(_client(cloud, timeout=0.1))  # a handler thread is now sleeping in the fault
    stopper = threading.Thread(target=cloud.stop, daemon=True)
    stopper.start()
    stopper.join(SAFETY_NET)  # waiting the latency out would take LONG_LATENCY
    assert not stopper.is_alive()
    assert cloud.count("kms", "GetSecretValue") == 1  # the late request was still answered and counted


def test_count_limits_a_fault(cloud: LocalAliyun) -> None:
    cloud.inject_fault("kms", Fault("status", status=500), count=2)
    client = _client(cloud)
    for _ in range(2):
        with pytest.raises(ServerException):
            _get(client)
    assert json.loads(_get(client))["SecretName"] == "db"


def test_probability_is_repeatable_with_a_seed(cloud: LocalAliyun) -> None:
    cloud.inject_fault("kms", Fault("status", status=500), count=None, probability=0.5)
    expected_rng = random.Random(7)  # the emulator was seeded with 7
    expected = [expected_rng.random() < 0.5 for _ in range(12)]
    client = _client(cloud)
    observed = []
    for _ in range(12):
        try:
            _get(client)
            observed.append(False)
        except ServerException:
            observed.append(True)
    assert observed == expected
    assert 0 < sum(observed) < 12
    cloud.clear_faults("kms")
    assert json.loads(_get(client))["SecretName"] == "db"


def test_fault_matched_by_action(cloud: LocalAliyun) -> None:
    cloud.inject_fault("kms", Fault("status", status=500), action="Decrypt")
    assert json.loads(_get(_client(cloud)))["SecretName"] == "db"
    assert cloud.state.faults["kms"].take("Decrypt") is not None  # still queued for its own action


def test_stop_closes_keep_alive_connections_and_joins_threads(
    local_aliyun_factory: Callable[..., LocalAliyun], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = set(threading.enumerate())
    cloud = local_aliyun_factory()
    cloud.create_generic_secret("db", "x")
    client = _client(cloud)
    for _ in range(3):
        _get(client)  # one pooled keep-alive connection stays open and idle
    assert cloud.count("kms", "GetSecretValue") == 3
    # A handler blocked on the idle connection would only notice the end of its (hour-long here)
    # keep-alive timeout: stop() must close the connection itself to return.
    monkeypatch.setattr(server_module._Handler, "timeout", 3600.0)
    stopper = threading.Thread(target=lambda: (cloud.stop(), cloud.stop()), daemon=True)  # idempotent
    stopper.start()
    stopper.join(SAFETY_NET)
    assert not stopper.is_alive()
    assert set(threading.enumerate()) - before == set()


def test_dkms_client_over_tls_with_the_written_client_key(local_aliyun: LocalAliyun) -> None:
    # The DKMS service plugs into the same HTTP layer: TLS with ca.pem, faults and counters.
    from common_plugin.exceptions import SecretFetchError
    from common_plugin.sources.dkms import DkmsSource

    local_aliyun.create_generic_secret("db", "s3cr3t")
    key_file, password_file = local_aliyun.client_key_file, local_aliyun.client_key_password_file
    assert key_file is not None and password_file is not None and local_aliyun.dkms_endpoint is not None
    source = DkmsSource(
        region_id=local_aliyun.region_id,
        endpoint=local_aliyun.dkms_endpoint,
        client_key_content=key_file.read_text(),
        password=password_file.read_text(),
        ca_file_path=str(local_aliyun.ca_file),
    )
    assert source.get_secret_value("db").secret_data == "s3cr3t"
    local_aliyun.inject_fault("dkms", Fault("status", status=500, code="InternalFailure"))
    with pytest.raises(SecretFetchError) as info:
        source.get_secret_value("db")
    assert (info.value.code, info.value.http_status) == ("InternalFailure", 500)
    assert local_aliyun.count("dkms", "GetSecretValue", local_aliyun.client_key.key_id) == 2


def test_concurrent_clients_are_all_served_and_counted(cloud: LocalAliyun) -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        client = _client(cloud)
        try:
            for _ in range(5):
                assert json.loads(_get(client))["SecretName"] == "db"
        except BaseException as exc:  # reported through the list
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert cloud.count("kms", "GetSecretValue") == 40

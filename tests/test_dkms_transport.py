"""The DKMS client's transport: total deadline, trust of its own, kept-alive connections, bounded replies,
and the typed errors every failure becomes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from wire_capture import CaptureServer, http_response

from common_plugin.exceptions import ConfigError, SecretFetchError
from common_plugin.sources.deadline import deadline_scope
from common_plugin.sources.dkms import DkmsSource
from common_plugin.sources.dkms_codec import MAX_MESSAGE_BYTES
from common_plugin.testing import THROTTLING, Fault, LocalAliyun, certs, protobuf_wire

REPLY = protobuf_wire.serialize(
    protobuf_wire.GET_SECRET_VALUE_RESPONSE, {"SecretName": "db", "SecretData": "s3cr3t"}
)


def _source(cloud: LocalAliyun, **options: object) -> DkmsSource:
    assert cloud.client_key is not None and cloud.client_key_password_file is not None
    settings: dict[str, object] = {
        "region_id": cloud.region_id,
        "endpoint": cloud.dkms_endpoint,
        "client_key_content": cloud.client_key.to_json(),
        "password": cloud.client_key_password_file.read_text(),
        "ca_file_path": str(cloud.ca_file),
    }
    settings.update(options)
    return DkmsSource(**settings)  # type: ignore[arg-type]


def _plain_source(endpoint: str, cloud: LocalAliyun) -> DkmsSource:
    return _source(cloud, endpoint=endpoint, protocol="http", ca_file_path=None)


def _fetch_error(source: DkmsSource, name: str = "db") -> SecretFetchError:
    with pytest.raises(SecretFetchError) as info:
        source.get_secret_value(name)
    return info.value


# ---- the total deadline --------------------------------------------------------------------------
def test_a_trickling_server_cannot_hold_a_call_past_the_deadline(local_aliyun: LocalAliyun) -> None:
    """A byte every 0.5 s never lets a per-read timeout of 1 s fire; only a total deadline ends it."""
    local_aliyun.create_generic_secret("db", "s3cr3t")
    source = _source(local_aliyun, timeout_seconds=1.0)
    local_aliyun.inject_fault("dkms", Fault("trickle", seconds=0.5))

    error = _fetch_error(source)

    assert "the request deadline" in str(error) and "timed out" in str(error)
    assert error.code == "SDK.HttpError" and error.retryable
    # The whole answer is hundreds of bytes; the call gave up after a handful.
    assert local_aliyun.state.trickled_bytes("dkms") < 20
    assert source.get_secret_value("db").secret_data == "s3cr3t"  # the next call is served normally


def test_the_fetch_deadline_cuts_a_dkms_request_short(local_aliyun: LocalAliyun) -> None:
    """A request inside a fetch whose time is nearly spent ends with the fetch, not its own timeout."""
    local_aliyun.create_generic_secret("db", "s3cr3t")
    source = _source(local_aliyun, timeout_seconds=60.0)
    local_aliyun.inject_fault("dkms", Fault("trickle", seconds=0.5))

    with deadline_scope(1.0):
        error = _fetch_error(source)

    assert "timed out" in str(error) and error.retryable
    # A 60 s request timeout alone would have let the whole answer trickle in.
    assert local_aliyun.state.trickled_bytes("dkms") < 20


def test_a_slow_call_does_not_block_the_others_on_the_same_source(local_aliyun: LocalAliyun) -> None:
    """No lock is held across network I/O: while one call is stuck in a trickle, another completes."""
    local_aliyun.create_generic_secret("db", "s3cr3t")
    source = _source(local_aliyun, timeout_seconds=60.0)
    local_aliyun.inject_fault("dkms", Fault("trickle", seconds=0.5))
    slow_done = threading.Event()
    slow_errors: list[SecretFetchError] = []

    def slow() -> None:
        try:
            source.get_secret_value("db")
        except SecretFetchError as exc:
            slow_errors.append(exc)
        slow_done.set()

    thread = threading.Thread(target=slow)
    thread.start()
    while local_aliyun.count("dkms") == 0:  # the slow request has reached the server
        slow_done.wait(0.01)
    assert source.get_secret_value("db").secret_data == "s3cr3t"
    assert not slow_done.is_set()  # its answer needs minutes; only stopping the server ends it
    local_aliyun.stop()
    thread.join()
    assert slow_errors and slow_errors[0].code == "SDK.HttpError"


# ---- connections ---------------------------------------------------------------------------------
def test_kept_alive_connections_are_reused(local_aliyun: LocalAliyun) -> None:
    with CaptureServer(lambda raw: http_response(200, REPLY)) as server:
        source = _plain_source(server.endpoint, local_aliyun)
        for _ in range(3):
            assert source.get_secret_value("db").secret_data == "s3cr3t"
        assert (len(server.requests), server.connections) == (3, 1)


def test_a_connection_the_server_closed_is_not_reused(local_aliyun: LocalAliyun) -> None:
    with CaptureServer(lambda raw: http_response(200, REPLY), close_after_each=True) as server:
        source = _plain_source(server.endpoint, local_aliyun)
        for count in range(1, 4):
            assert source.get_secret_value("db").secret_data == "s3cr3t"
            server.wait_closed(count)  # as a server's idle timeout would, before the next call
        assert (len(server.requests), server.connections) == (3, 3)


def test_concurrent_calls_on_one_source(local_aliyun: LocalAliyun) -> None:
    local_aliyun.create_generic_secret("db", "s3cr3t")
    source = _source(local_aliyun)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(5):
                results.append(source.get_secret_value("db").secret_data)
        except BaseException as exc:  # reported through the list
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and results == ["s3cr3t"] * 80
    assert local_aliyun.count("dkms", "GetSecretValue") == 80
    source.close()
    source.close()  # idempotent
    assert source.get_secret_value("db").secret_data == "s3cr3t"  # closing drops idle connections only


# ---- bounded and malformed answers ----------------------------------------------------------------
def _chunked(body: bytes) -> bytes:
    chunks = b"".join(
        b"%x\r\n" % len(body[i : i + 65536]) + body[i : i + 65536] + b"\r\n"
        for i in range(0, len(body), 65536)
    )
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"


ODD_ANSWERS: dict[str, tuple[bytes, str]] = {
    "a huge Content-Length": (
        f"HTTP/1.1 200 OK\r\nContent-Length: {MAX_MESSAGE_BYTES + 1}\r\n\r\n".encode() + b"x" * 100,
        "a body of",
    ),
    "a huge chunked body": (_chunked(b"x" * (MAX_MESSAGE_BYTES + 10)), "a body over"),
    "not HTTP": (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP answer"),
    "a redirect": (http_response(302, b"", headers=(("Location", "http://elsewhere/"),)), "HTTP 302"),
    "a 403 page from a proxy": (http_response(403, b"<html>Forbidden</html>"), "without a DKMS Error body"),
    "an Error without a code": (
        http_response(500, protobuf_wire.serialize(protobuf_wire.ERROR, {"StatusCode": 500})),
        "without an error code",
    ),
    "a 200 that is not protobuf": (
        http_response(200, b"\x0a\xff\xff\x03garbage"),
        "not a GetSecretValueResponse",
    ),
}


@pytest.mark.parametrize("answer", ODD_ANSWERS.values(), ids=ODD_ANSWERS.keys())
def test_odd_answers_are_unusable_responses(local_aliyun: LocalAliyun, answer: tuple[bytes, str]) -> None:
    raw, detail = answer
    with CaptureServer(lambda request: raw) as server:
        error = _fetch_error(_plain_source(server.endpoint, local_aliyun))
    assert error.code == "SDK.InvalidResponse" and error.retryable
    assert detail in str(error) and "unusable answer" in str(error)


def test_a_body_cut_short_is_a_dropped_connection(local_aliyun: LocalAliyun) -> None:
    local_aliyun.create_generic_secret("db", "s3cr3t")
    local_aliyun.inject_fault("dkms", Fault("truncate"))
    error = _fetch_error(_source(local_aliyun))
    assert error.code == "SDK.HttpError" and error.retryable and "(connection dropped)" in str(error)


def test_a_status_line_cut_short_is_a_dropped_connection(local_aliyun: LocalAliyun) -> None:
    """A server that stops mid-answer (here inside the status line) dropped the connection; a whole
    line that is not HTTP stays an unusable answer (test_odd_answers_are_unusable_responses)."""
    with CaptureServer(lambda raw: b"HTTP/1.", close_after_each=True) as server:
        error = _fetch_error(_plain_source(server.endpoint, local_aliyun))
    assert error.code == "SDK.HttpError" and error.retryable and "(connection dropped)" in str(error)


def test_a_reset_is_a_dropped_connection(local_aliyun: LocalAliyun) -> None:
    local_aliyun.inject_fault("dkms", Fault("reset"))
    error = _fetch_error(_source(local_aliyun))
    assert error.code == "SDK.HttpError" and "(connection dropped)" in str(error)


# ---- service errors keep their mapping -----------------------------------------------------------
@pytest.mark.parametrize(
    ("fault", "code", "status", "retryable"),
    [
        (THROTTLING, "Rejected.Throttling", 429, True),
        (Fault("status", status=500, code="InternalFailure"), "InternalFailure", 500, True),
        (Fault("status", status=503, code="SomethingNew"), "SomethingNew", 503, True),
        (Fault("status", status=403, code="Forbidden.NoPermission"), "Forbidden.NoPermission", 403, False),
    ],
)
def test_service_errors_keep_their_code_status_and_retryability(
    local_aliyun: LocalAliyun, fault: Fault, code: str, status: int, retryable: bool
) -> None:
    local_aliyun.inject_fault("dkms", fault)
    error = _fetch_error(_source(local_aliyun))
    assert (error.code, error.http_status, error.retryable, error.secret_name) == (
        code,
        status,
        retryable,
        "db",
    )
    assert f"rejected GetSecretValue for 'db': {code} (" in str(error)


def test_a_missing_secret_names_the_fix(local_aliyun: LocalAliyun) -> None:
    error = _fetch_error(_source(local_aliyun), "nope")
    assert (error.code, error.http_status, error.retryable) == ("Forbidden.ResourceNotFound", 404, False)
    assert "no such secret in this instance" in str(error)


# ---- trust -----------------------------------------------------------------------------------------
@pytest.fixture
def other_ca(tmp_path: Path) -> Path:
    """A CA that did not sign the emulator's certificate."""
    return certs.write_ca_file(tmp_path, certs.generate_bundle())


def test_the_sdk_ca_bundle_variable_is_trusted_without_ca_file_path(
    local_aliyun: LocalAliyun, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_aliyun.create_generic_secret("db", "s3cr3t")
    assert "certificate verify failed" in str(_fetch_error(_source(local_aliyun, ca_file_path=None)))
    monkeypatch.setenv("ALIBABA_CLOUD_CA_BUNDLE", str(local_aliyun.ca_file))
    assert _source(local_aliyun, ca_file_path=None).get_secret_value("db").secret_data == "s3cr3t"


def test_ca_file_path_is_the_only_trust_when_set(
    local_aliyun: LocalAliyun, monkeypatch: pytest.MonkeyPatch, other_ca: Path
) -> None:
    local_aliyun.create_generic_secret("db", "s3cr3t")
    monkeypatch.setenv("ALIBABA_CLOUD_CA_BUNDLE", str(local_aliyun.ca_file))  # right, but not consulted
    error = _fetch_error(_source(local_aliyun, ca_file_path=str(other_ca)))
    assert f"certificate verify failed for {local_aliyun.dkms_endpoint}; set caFilePath or " in str(error)
    assert error.code == "SDK.HttpError" and error.retryable
    assert local_aliyun.count("dkms") == 0


def test_sources_to_one_endpoint_share_no_trust(local_aliyun: LocalAliyun) -> None:
    """dkms-gcs kept one TLS session per endpoint for the whole process, so a CA given once was
    trusted by every later client of that endpoint; each source now has its own."""
    local_aliyun.create_generic_secret("db", "s3cr3t")
    trusting = _source(local_aliyun)
    untrusting = _source(local_aliyun, ca_file_path=None)
    for _ in range(2):
        assert trusting.get_secret_value("db").secret_data == "s3cr3t"
        assert "certificate verify failed" in str(_fetch_error(untrusting))


def test_ignore_ssl_certs_is_an_explicit_warned_opt_out(
    local_aliyun: LocalAliyun, caplog: pytest.LogCaptureFixture
) -> None:
    local_aliyun.create_generic_secret("db", "s3cr3t")
    caplog.set_level(logging.WARNING, logger="common_plugin.sources.dkms")
    source = _source(local_aliyun, ca_file_path=None, ignore_ssl_certs=True)
    assert source.get_secret_value("db").secret_data == "s3cr3t"
    assert any("ignoreSslCerts=true" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("where", ["caFilePath", "ALIBABA_CLOUD_CA_BUNDLE"])
def test_an_unreadable_ca_bundle_is_a_config_error(
    local_aliyun: LocalAliyun, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, where: str
) -> None:
    missing = str(tmp_path / "no-such-ca.pem")
    options: dict[str, object] = {"ca_file_path": missing}
    if where == "ALIBABA_CLOUD_CA_BUNDLE":
        monkeypatch.setenv(where, missing)
        options = {"ca_file_path": None}
    with pytest.raises(ConfigError) as info:
        _source(local_aliyun, **options)
    assert str(info.value).startswith(f"{where}: cannot load the CA bundle {missing}")


@pytest.mark.parametrize("endpoint", ["", "host:notaport", "[::1"])
def test_an_unusable_endpoint_is_a_config_error(local_aliyun: LocalAliyun, endpoint: str) -> None:
    with pytest.raises(ConfigError, match="is not host or host:port"):
        _source(local_aliyun, endpoint=endpoint)


def test_requests_are_signed_with_the_configured_user_agent(local_aliyun: LocalAliyun) -> None:
    with CaptureServer(lambda raw: http_response(200, REPLY)) as server:
        _source(local_aliyun, endpoint=server.endpoint, protocol="http", user_agent="me/1").get_secret_value(
            "db"
        )
        default: Callable[[], object] = _plain_source(server.endpoint, local_aliyun).get_secret_value
        default("db")
    first, second = server.requests
    assert b"\r\nuser-agent: me/1\r\n" in first
    assert b" managed-credentials-providers kms-gcs-python-sdk-version/1.0.2\r\n" in second

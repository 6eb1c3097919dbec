"""``managed-credentials serve``: the ALIBABA_CLOUD_CREDENTIALS_URI endpoint, its token and its defences."""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_credentials.exceptions import CredentialException
from alibabacloud_credentials.models import Config as CredentialConfig
from alibabacloud_credentials.provider import URLCredentialsProvider
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi import utils_models as open_api_models

from common_plugin.adapters.endpoint import TOKEN_ENV, CredentialsServer, credentials_document
from common_plugin.cli.serve import add_serve_command, run_serve
from common_plugin.exceptions import ConfigError
from common_plugin.provider import CredentialsProvider
from common_plugin.testing import LocalAliyun

SECRET = "app-key"
SAMPLES = Path(__file__).resolve().parents[1] / "samples"


@pytest.fixture
def cloud(local_aliyun: LocalAliyun) -> LocalAliyun:
    local_aliyun.create_ram_secret(SECRET)
    return local_aliyun


@pytest.fixture
def server(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> Iterator[CredentialsServer]:
    with CredentialsServer(make_provider(cloud), [SECRET]) as running:
        yield running


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """A plain HTTP client: the stand-in for a process in another language."""
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback only
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_the_real_sdk_uri_provider_reads_it(cloud: LocalAliyun, server: CredentialsServer) -> None:
    key = cloud.current_key(SECRET)
    uri_provider = URLCredentialsProvider(uri=server.credentials_uri())
    before = time.time()
    credentials = uri_provider.get_credentials()
    after = time.time()
    assert credentials.get_access_key_id() == key.access_key_id
    assert credentials.get_access_key_secret() == key.access_key_secret
    assert credentials.get_security_token() == ""
    # Expiration: 15 min (the SDK's margin) + max_age (60 s) after the server answered, to the whole
    # second, so the SDK comes back in about a minute. The server's "now" lies between the two
    # readings of the clock around the call: a bracket, however long the call took.
    ahead = 15 * 60 + 60
    assert int(before) + ahead <= credentials.get_expiration() <= after + ahead
    client = CredentialClient(
        CredentialConfig(type="credentials_uri", credentials_uri=server.credentials_uri())
    )
    assert client.get_credential().access_key_id == key.access_key_id


def test_a_tea_client_signs_with_served_credentials(cloud: LocalAliyun, server: CredentialsServer) -> None:
    credential = CredentialClient(
        CredentialConfig(type="credentials_uri", credentials_uri=server.credentials_uri())
    )
    config = open_api_models.Config(credential=credential, endpoint=cloud.sts_endpoint, protocol="http")
    assert StsClient(config).get_caller_identity().body.identity_type == "RAMUser"
    assert cloud.count("sts", "GetCallerIdentity", cloud.current_key(SECRET).access_key_id) == 1


def test_the_sdk_without_the_token_is_refused(server: CredentialsServer) -> None:
    wrong = server.credentials_uri().replace(server.token, "x" * len(server.token))
    with pytest.raises(CredentialException) as info:
        URLCredentialsProvider(uri=wrong).get_credentials()
    assert "401" in str(info.value) and server.token not in str(info.value)
    with pytest.raises(CredentialException):
        URLCredentialsProvider(uri=server.base_url + "/credentials").get_credentials()


def test_a_plain_http_client_needs_the_token(cloud: LocalAliyun, server: CredentialsServer) -> None:
    key_id = cloud.current_key(SECRET).access_key_id
    status, body = get(server.base_url + "/credentials", {"Authorization": f"Bearer {server.token}"})
    assert status == 200 and body["Code"] == "Success" and body["AccessKeyId"] == key_id
    assert set(body) == {"Code", "AccessKeyId", "AccessKeySecret", "SecurityToken", "Expiration"}
    assert get(server.credentials_uri())[1]["AccessKeyId"] == key_id
    assert get(server.credentials_uri(SECRET))[1]["AccessKeyId"] == key_id
    for headers in ({}, {"Authorization": "Bearer wrong-token-wrong-token"}, {"Authorization": server.token}):
        status, body = get(server.base_url + "/credentials", headers)
        assert status == 401 and "AccessKeyId" not in body
    assert get(server.base_url + "/" + "y" * 43 + "/credentials")[0] == 401


def test_status_view_needs_the_token_and_holds_no_secret(
    cloud: LocalAliyun, server: CredentialsServer
) -> None:
    key = cloud.current_key(SECRET)
    get(server.credentials_uri())  # serve once, so the secret is cached
    assert get(server.base_url + "/status")[0] == 401
    status, body = get(f"{server.base_url}/{server.token}/status")
    assert status == 200
    health = body["secrets"][SECRET]
    assert health["masked_access_key_id"] == f"{key.access_key_id[:4]}****{key.access_key_id[-4:]}"
    assert health["consecutive_failures"] == 0 and health["stale_since"] is None
    assert body["counters"]["fetches"] == 1 and body["source"]["requests"] == 1
    text = json.dumps(body)
    assert key.access_key_id not in text and key.access_key_secret not in text
    bearer = get(server.base_url + "/status", {"Authorization": f"Bearer {server.token}"})
    assert bearer[0] == 200


def test_ssrf_and_dns_rebinding_defences(server: CredentialsServer) -> None:
    auth = {"Authorization": f"Bearer {server.token}"}
    url = server.base_url + "/credentials"
    assert get(url, {**auth, "Host": "evil.example.com"})[0] == 403  # a rebound DNS name
    assert get(url, {**auth, "Host": f"localhost:{server.port}"})[0] == 200
    assert get(url, {**auth, "X-Forwarded-For": "10.0.0.1"})[0] == 403  # came through a proxy
    assert get(url + "/other-secret", auth)[0] == 404  # only the named secrets are served
    assert get(server.base_url + "/", auth)[0] == 404
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("POST", "/credentials", headers=auth)
    assert conn.getresponse().status == 405
    conn.close()


def test_rotation_is_served_and_nothing_secret_is_logged(
    cloud: LocalAliyun, server: CredentialsServer, make_provider: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    first = get(server.credentials_uri())[1]
    cloud.rotate(SECRET, grace_seconds=600)
    server.provider.refresh(SECRET)  # what the proactive refresh job does
    second = get(server.credentials_uri())[1]
    assert second["AccessKeyId"] == cloud.current_key(SECRET).access_key_id != first["AccessKeyId"]
    assert server.token not in caplog.text and server.token not in repr(server)
    assert first["AccessKeySecret"] not in caplog.text and second["AccessKeySecret"] not in caplog.text


def test_unavailable_secret_is_a_503_without_details(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    with CredentialsServer(make_provider(cloud), ["missing"]) as running:
        status, body = get(running.credentials_uri())
    assert status == 503 and body["Code"] == "CredentialsUnavailable"


def test_document_format_and_sts_expiry() -> None:
    doc = credentials_document("id", "secret", "token", 1_000_100.0, now=1_000_000.0, max_age_seconds=60)
    assert doc == {
        "Code": "Success",
        "AccessKeyId": "id",
        "AccessKeySecret": "secret",
        "SecurityToken": "token",
        "Expiration": "1970-01-12T13:48:20Z",  # the token's own expiry, sooner than now + 16 min
    }


def test_only_loopback_and_long_tokens(cloud: LocalAliyun, make_provider: Any) -> None:
    provider = make_provider(cloud)
    with pytest.raises(ValueError, match="loopback"):
        CredentialsServer(provider, [SECRET], host="0.0.0.0")  # noqa: S104 - asserting it is refused
    with pytest.raises(ValueError, match="16"):
        CredentialsServer(provider, [SECRET], token="short")


def test_unix_socket(cloud: LocalAliyun, make_provider: Any, tmp_path: Path) -> None:
    path = tmp_path / "creds.sock"
    with CredentialsServer(make_provider(cloud), [SECRET], unix_socket=path) as running:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        for token, expected in ((running.token, 200), ("nope", 401)):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(30)
                sock.connect(str(path))
                sock.sendall(
                    b"GET /credentials HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                    + f"Authorization: Bearer {token}\r\n\r\n".encode()
                )
                reply = b""
                while chunk := sock.recv(65536):
                    reply += chunk
            assert reply.startswith(f"HTTP/1.1 {expected}".encode())
    assert not path.exists()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_in_another_process(cloud: LocalAliyun, server: CredentialsServer) -> None:
    curl = shutil.which("curl") or "curl"
    ok = subprocess.run(  # noqa: S603 - fixed arguments, loopback URL
        [curl, "-s", "-H", f"Authorization: Bearer {server.token}", server.base_url + "/credentials"],
        capture_output=True,
        timeout=20,
        check=True,
    )
    assert json.loads(ok.stdout)["AccessKeyId"] == cloud.current_key(SECRET).access_key_id
    refused = subprocess.run(  # noqa: S603
        [curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", server.base_url + "/credentials"],
        capture_output=True,
        timeout=20,
        check=True,
    )
    assert refused.stdout == b"401"


def test_default_chain_of_a_fresh_process_picks_it_up(
    cloud: LocalAliyun, server: CredentialsServer, tmp_path: Path
) -> None:
    """No code change: an unmodified program using the SDK's default chain signs with the managed key."""
    program = (
        "from alibabacloud_credentials.client import Client\nprint(Client().get_credential().access_key_id)\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),  # no ~/.aliyun or ~/.alibabacloud profiles
        "ALIBABA_CLOUD_CREDENTIALS_URI": server.credentials_uri(),
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",  # skip the ECS metadata probe off ECS
    }
    done = subprocess.run(  # noqa: S603 - our interpreter, a fixed program
        [sys.executable, "-c", program], capture_output=True, timeout=60, env=env, check=True
    )
    assert done.stdout.decode().strip() == cloud.current_key(SECRET).access_key_id


def test_the_command(cloud: LocalAliyun, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_serve_command(parser.add_subparsers(dest="command"))
    properties = cloud.write_properties(tmp_path / "p.properties")
    uri_file, token_file = tmp_path / "uri", tmp_path / "token"
    args = parser.parse_args(
        ["serve", "--config", str(properties), "--secret", SECRET, "--uri-file", str(uri_file)]
        + ["--token-file", str(token_file)]
    )
    stop, ready = threading.Event(), threading.Event()
    result: list[int] = []
    servers: list[CredentialsServer] = []

    def on_ready(running: CredentialsServer) -> None:
        servers.append(running)
        ready.set()

    thread = threading.Thread(target=lambda: result.append(run_serve(args, stop, on_ready)))
    thread.start()
    try:
        assert ready.wait(30)
        for path in (uri_file, token_file):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        uri = uri_file.read_text().strip()
        assert token_file.read_text().strip() in uri
        assert get(uri)[1]["AccessKeyId"] == cloud.current_key(SECRET).access_key_id
    finally:
        stop.set()
        thread.join()
    assert result == [0]


def test_sample(cloud: LocalAliyun, make_provider: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(SAMPLES))
    sys.modules.pop("serve_endpoint", None)
    import serve_endpoint

    key_id = cloud.current_key(SECRET).access_key_id
    assert serve_endpoint.main(make_provider(cloud), SECRET) == (key_id, key_id)


# -- options are checked first and refused with a typed error (issue 13, items 6 and 7) -------------


def _serve(tmp_path: Path, *options: str) -> list[str]:
    """``serve`` arguments with a properties file that does not exist: an option refused before the
    configuration is read gets its own message; one that slips through gets the missing-file one."""
    return ["serve", "--config", str(tmp_path / "absent.properties"), "--secret", SECRET, *options]


@pytest.mark.parametrize(
    "options, expected",
    [
        (["--host", "0.0.0.0"], "listens on loopback only"),  # noqa: S104 - asserting it is refused
        (["--max-age-seconds", "nan"], "a finite number of seconds from 1 to 3600"),
        (["--max-age-seconds", "inf"], "a finite number of seconds from 1 to 3600"),
        (["--max-age-seconds", "1e9"], "a finite number of seconds from 1 to 3600"),
        (["--max-age-seconds", "-1"], "a finite number of seconds from 1 to 3600"),
        (["--max-age-seconds", "0.5"], "a finite number of seconds from 1 to 3600"),
    ],
    ids=["public host", "nan", "inf", "1e9", "-1", "0.5"],
)
def test_bad_serve_options_are_exit_code_2_with_our_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], expected: str
) -> None:
    from common_plugin.cli.commands import main

    assert main(_serve(tmp_path, *options)) == 2
    err = capsys.readouterr().err
    assert err.startswith("configuration error: ") and expected in err and "Traceback" not in err


def test_a_short_token_is_exit_code_2_naming_where_it_came_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from common_plugin.cli.commands import main

    monkeypatch.setenv(TOKEN_ENV, "q9shrt")
    assert main(_serve(tmp_path)) == 2
    err = capsys.readouterr().err
    assert f"environment variable {TOKEN_ENV}" in err and "at least 16 characters" in err
    monkeypatch.delenv(TOKEN_ENV)
    token_file = tmp_path / "token"
    token_file.write_text("q9shrt\n")
    token_file.chmod(0o600)
    assert main(_serve(tmp_path, "--token-file", str(token_file))) == 2
    err = capsys.readouterr().err
    assert f"--token-file {token_file}" in err and "at least 16 characters" in err and "q9shrt" not in err


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620], ids=lambda mode: f"{mode:o}")
def test_a_token_file_group_or_others_can_access_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: int
) -> None:
    from common_plugin.cli.commands import main

    token_file = tmp_path / "token"
    token = "t" + "0123456789abcdef" * 3
    token_file.write_text(token + "\n")
    token_file.chmod(mode)
    assert main(_serve(tmp_path, "--token-file", str(token_file))) == 2
    err = capsys.readouterr().err
    assert str(token_file) in err and f"chmod 600 {token_file}" in err and token not in err
    assert token_file.read_text() == token + "\n" and stat.S_IMODE(token_file.stat().st_mode) == mode


def test_a_symlinked_token_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from common_plugin.cli.commands import main

    real = tmp_path / "real-token"
    real.write_text("t" + "0123456789abcdef" * 3)
    real.chmod(0o600)
    link = tmp_path / "token"
    link.symlink_to(real)
    assert main(_serve(tmp_path, "--token-file", str(link))) == 2
    assert "not a symbolic link" in capsys.readouterr().err


@pytest.mark.parametrize("max_age", [math.nan, math.inf, 1e9, 3600.5, 0.0, -1.0])
def test_the_library_refuses_an_unbounded_max_age(
    cloud: LocalAliyun, make_provider: Any, max_age: float
) -> None:
    with pytest.raises(ConfigError, match="from 1 to 3600"):
        CredentialsServer(make_provider(cloud), [SECRET], max_age_seconds=max_age)


def test_the_sdk_uri_provider_puts_the_whole_uri_in_its_exception(
    cloud: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    """What the README warns about (alibabacloud-credentials as installed): on any non-200 reply the
    SDK's exception text holds the URI, token included, so an app that logs it logs the token."""
    with CredentialsServer(make_provider(cloud), ["missing"]) as running:
        with pytest.raises(CredentialException) as info:
            URLCredentialsProvider(uri=running.credentials_uri()).get_credentials()
        assert "503" in str(info.value) and running.token in str(info.value)

"""The managed-credentials command line against the emulator."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from common_plugin.cli import commands as cli
from common_plugin.testing import LocalAliyun


@pytest.fixture
def properties(local_aliyun: LocalAliyun, tmp_path: Path) -> Path:
    local_aliyun.create_ram_secret("app-key", rotation_interval_seconds=3600)
    return local_aliyun.write_properties(tmp_path / "p.properties", secret_names=["app-key"])


def test_check_reports_masked_key_version_and_next_refresh(
    properties: Path, local_aliyun: LocalAliyun, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["check", "--config", str(properties)]) == 0
    out = capsys.readouterr().out
    key = local_aliyun.current_key("app-key")
    assert "configuration OK" in out and "OK   app-key" in out
    assert f"{key.access_key_id[:4]}****{key.access_key_id[-4:]}" in out
    assert "next refresh 20" in out
    assert key.access_key_id not in out and key.access_key_secret not in out


def test_check_fails_for_a_missing_secret(properties: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "--config", str(properties), "--secret", "nope"]) == 1
    out = capsys.readouterr().out
    assert "FAIL nope: " in out
    assert "fetches 2, failures 1 (Forbidden.ResourceNotFound x1), throttled 0; requests sent 2" in out


@pytest.mark.parametrize(
    "text, needle",
    [
        ("cache_client_dkms_config_inf=[]\n", "did you mean 'cache_client_dkms_config_info'"),
        ("cache_client_dkms_config_info=[{\n", "cache_client_dkms_config_info"),
        ('cache_client_region_id=[{"regionId":"cn-hangzhou"}]\n', "credentials_type"),
        ("secret_names=a\n", "cache_client_dkms_config_info"),
    ],
)
def test_check_explains_bad_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, needle: str
) -> None:
    path = tmp_path / "bad.properties"
    path.write_text(text)
    assert cli.main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("configuration error: ") and needle in err


def test_check_reports_a_wrong_client_key_password(
    local_aliyun: LocalAliyun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = local_aliyun.write_properties(tmp_path / "p.properties")
    password_file = Path(str(local_aliyun.client_key_password_file))
    real = password_file.read_text()
    password_file.write_text("wrong-password")
    try:
        assert cli.main(["check", "--config", str(path)]) == 2
    finally:
        password_file.write_text(real)
    err = capsys.readouterr().err
    assert "wrong password" in err and "wrong-password" not in err and real not in err


def test_check_without_secret_names(
    local_aliyun: LocalAliyun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = local_aliyun.write_properties(tmp_path / "p.properties")
    assert cli.main(["check", "--config", str(path)]) == 0
    assert "no secret to fetch" in capsys.readouterr().out


@pytest.mark.prints_secrets
def test_get_env_and_json(
    properties: Path, local_aliyun: LocalAliyun, capsys: pytest.CaptureFixture[str]
) -> None:
    key = local_aliyun.current_key("app-key")
    assert cli.main(["get", "app-key", "--config", str(properties)]) == 0
    out = capsys.readouterr()
    assert f"export ALIBABA_CLOUD_ACCESS_KEY_ID={key.access_key_id}\n" in out.out
    assert f"export ALIBABA_CLOUD_ACCESS_KEY_SECRET={key.access_key_secret}\n" in out.out
    assert out.err == ""
    assert cli.main(["get", "app-key", "--config", str(properties), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    # The four documented fields, always; a RAM user's key has no token and no fixed expiry.
    assert document == {
        "AccessKeyId": key.access_key_id,
        "AccessKeySecret": key.access_key_secret,
        "SecurityToken": None,
        "Expiration": None,
    }


@pytest.mark.prints_secrets
def test_get_json_of_an_sts_secret_has_its_token_and_expiration(
    local_aliyun: LocalAliyun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local_aliyun.create_ram_secret("sts-key", with_sts_token=True, token_ttl_seconds=3600)
    path = local_aliyun.write_properties(tmp_path / "p.properties")
    assert cli.main(["get", "sts-key", "--config", str(path), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    key = local_aliyun.current_key("sts-key")
    assert list(document) == ["AccessKeyId", "AccessKeySecret", "SecurityToken", "Expiration"]
    assert document["AccessKeyId"] == key.access_key_id and document["SecurityToken"] == key.security_token
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", document["Expiration"])


def test_help_for_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("check", "get", "emulator", "demo", "serve"):
        with pytest.raises(SystemExit) as info:
            cli.main([command, "--help"])
        assert info.value.code == 0
        assert "usage: managed-credentials " + command in capsys.readouterr().out
    assert cli.main([]) == 2


def test_emulator_command_prints_a_ready_config_and_stops(tmp_path: Path) -> None:
    stop = threading.Event()
    out = io.StringIO()
    args = argparse.Namespace(workdir=str(tmp_path / "cloud"), secret=["svc-key"], mode="dkms", no_tls=False)
    ready = threading.Event()
    runner = threading.Thread(target=cli._run_emulator, args=(args, out, stop, ready))
    runner.start()
    try:
        assert ready.wait(30)
        text = out.getvalue()
        assert "properties:" in text
        properties = tmp_path / "cloud" / "managed_credentials_providers.properties"
        assert properties.exists() and oct(properties.stat().st_mode & 0o777) == "0o600"
        assert cli.main(["check", "--config", str(properties)]) == 0
    finally:
        stop.set()
        runner.join(timeout=60)
    assert not runner.is_alive()


@pytest.mark.parametrize("mode", ["dkms", "instance"])
def test_emulator_prints_a_snippet_another_process_runs(tmp_path: Path, mode: str) -> None:
    """What a newcomer copies from the emulator's output works, as is, in a separate process."""
    stop = threading.Event()
    out = io.StringIO()
    args = argparse.Namespace(workdir=str(tmp_path / "cloud"), secret=[], mode=mode, no_tls=False)
    ready = threading.Event()
    runner = threading.Thread(target=cli._run_emulator, args=(args, out, stop, ready))
    runner.start()
    try:
        assert ready.wait(30)
        text = out.getvalue()
        first = text.index(cli.SNIPPET_MARK)
        last = text.index(cli.SNIPPET_MARK, first + 1) + len(cli.SNIPPET_MARK)
        snippet = tmp_path / "snippet.py"
        snippet.write_text(text[first:last] + "\n")
        env = {
            name: value
            for name, value in os.environ.items()
            if name.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
            and not name.startswith(("ALIYUN_", "ALIBABA_CLOUD_"))
        }
        result = subprocess.run(  # noqa: S603 - our own interpreter and the printed snippet
            [sys.executable, str(snippet)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        stop.set()
        runner.join(timeout=10)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert json.loads(lines[0])["Arn"].startswith("acs:ram::") and lines[1] == "hello from a managed key"
    assert str(tmp_path / "cloud" / "managed_credentials_providers.properties") in text


def test_demo_runs_without_failures() -> None:
    out = io.StringIO()
    assert cli._run_demo(argparse.Namespace(threads=3, seconds=2.0), out) == 0
    text = out.getvalue()
    assert "failed calls     0" in text and "secret fetches   3" in text


def test_demo_ignores_a_shell_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """AcsClient would send the demo's loopback calls to HTTP_PROXY; the demo drops it first."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    out = io.StringIO()
    assert cli._run_demo(argparse.Namespace(threads=2, seconds=1.0), out) == 0
    assert "failed calls     0" in out.getvalue()

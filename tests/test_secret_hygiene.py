"""Secret hygiene (issue 7, part 4): the session guard can fail, every repr is clean, SDK logs are masked.

The guard itself is ``tests/secret_hygiene.py``; here it is run in a subprocess (pytester) on tests
that leak on purpose, to prove it fails the session and names the kind and place, never the secret.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import oss2
import pytest
import secret_hygiene
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest
from aliyunsdkkms.request.v20160120.GetSecretValueRequest import GetSecretValueRequest

from common_plugin.config import load_config
from common_plugin.config.validation import Entry
from common_plugin.credentials import ManagedCredential
from common_plugin.provider import CredentialsProvider
from common_plugin.sources.factory import build_source
from common_plugin.testing import LocalAliyun
from sdk_core_plugin.proxy_acs_client import ProxyAcsClient

pytest_plugins = ["pytester"]

TESTS_DIR = Path(__file__).resolve().parent
SECRET = "app-key"

_LEAKY_TESTS = """
import logging
import pytest
from common_plugin.exceptions import ConfigError
from common_plugin.testing.state import CloudState

def test_logs_a_secret():
    key = CloudState().create_access_key()
    logging.getLogger("some.sdk").debug("signing with %s", key.access_key_secret)

def test_prints_a_token():
    print(CloudState().create_access_key(with_sts_token=True).security_token)

def test_exception_message_with_a_secret_even_if_caught():
    key = CloudState().create_access_key()
    with pytest.raises(ConfigError):
        raise ConfigError("bad value " + key.access_key_secret)

@pytest.mark.prints_secrets
def test_cli_get_prints_by_design():
    print(CloudState().create_access_key().access_key_secret)

def test_clean():
    CloudState().create_access_key()
"""


def _run_guarded(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tests: str) -> pytest.RunResult:
    pytester.makeconftest('pytest_plugins = ["secret_hygiene"]\n')
    pytester.makepyfile(test_leaky=tests)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")]))
    )
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")


def test_guard_fails_the_session_on_a_leak_and_names_only_kind_and_place(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run_guarded(pytester, monkeypatch, _LEAKY_TESTS)
    result.assert_outcomes(passed=5)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # every test passed, the guard failed the run
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*secret hygiene: LEAKS*",
            "AccessKeySecret appeared in log of test_leaky.py::test_logs_a_secret",
        ]
    )
    assert "STS SecurityToken appeared in stdout of test_leaky.py::test_prints_a_token (call)" in out
    assert "AccessKeySecret appeared in exception of test_leaky.py::test_exception_message_with" in out
    assert "test_cli_get_prints_by_design" not in out  # exempt by its marker
    assert "test_clean" not in out
    assert "3 leak(s)" in out
    assert "signing with" not in out and "bad value" not in out  # nothing of the leaked text


_ENCODED_LEAKS = """
import base64
import logging
from urllib.parse import quote

import oss2
import pytest
from secret_hygiene import register_secret

from common_plugin.masking import redact_exception

# Standard base64 like a real STS token: URL-encoding changes every part of it.
TOKEN = "CAIS" + "ab+/" * 30 + "x=="
register_secret("STS SecurityToken", TOKEN)

BODY = f"<Error><StringToSign>GET\\nx-oss-security-token:{TOKEN}</StringToSign></Error>".encode()

def oss_error():
    return oss2.exceptions.ServerError(403, {}, BODY, {"Code": "SignatureDoesNotMatch"})

def test_logs_a_token_url_encoded_once():
    logging.getLogger("some.sdk").error("sign: SecurityToken%%3D%s", quote(TOKEN, safe=""))

def test_logs_a_string_to_sign_encoded_twice():
    logging.getLogger("some.sdk").error("sign: %s", quote(quote("SecurityToken=" + TOKEN, safe=""), safe=""))

def test_logs_a_base64_error_body():
    logging.getLogger("some.sdk").debug("x-oss-err: %s", base64.b64encode(BODY).decode())

def test_exception_body_holds_a_token():
    with pytest.raises(oss2.exceptions.ServerError) as info:
        raise oss_error()
    assert "x-oss-security-token" not in str(info.value)  # only its body has it

def test_exception_redacted_before_the_test_ends():
    with pytest.raises(oss2.exceptions.ServerError) as info:
        raise oss_error()
    redact_exception(info.value)
"""


def test_guard_finds_url_encoded_and_base64_tokens_and_exception_attributes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run_guarded(pytester, monkeypatch, _ENCODED_LEAKS)
    result.assert_outcomes(passed=5)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    for test, source in (
        ("test_logs_a_token_url_encoded_once", "log"),
        ("test_logs_a_string_to_sign_encoded_twice", "log"),
        ("test_logs_a_base64_error_body", "log"),
        ("test_exception_body_holds_a_token", "exception"),
    ):
        assert f"STS SecurityToken appeared in {source} of test_leaky.py::{test}" in out
    assert "test_exception_redacted_before_the_test_ends" not in out  # read as the test left it
    assert "4 leak(s)" in out and "ab+/" not in out and "ab%2B" not in out


def test_guard_passes_a_clean_session(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run_guarded(pytester, monkeypatch, "def test_ok():\n    print('hello')\n")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["secret hygiene: 0 leaks*"])


def test_registry_finds_whole_partial_and_embedded_secrets() -> None:
    registry = secret_hygiene.SecretRegistry()
    registry.register("AccessKeySecret", "Zx81-abcDEF_ghij")
    registry.register("client-key private key (PKCS#12)", "M" + "A0b1C2d3E4f5" * 20)
    registry.register("client-key password", "pw")  # too short to search for: not registered
    assert registry.secret_count() == 2
    assert registry.contains_secret("b'\\x1eZx81-abcDEF_ghij\\x12'")  # inside a bytes repr
    assert registry.contains_secret("..." + ("A0b1C2d3E4f5" * 20)[30:150] + "...")  # most of a key
    assert not registry.contains_secret("Zx81-abcDEF_ghi pw")


# -- every repr the library makes ----------------------------------------------------------------


def _check(*objects: object) -> None:
    for obj in objects:
        for text in (repr(obj), str(obj)):
            secret_hygiene.observe(text)  # the session check sees it too
            assert not secret_hygiene.registry.contains_secret(text), type(obj).__name__


def test_reprs_of_library_objects_hold_no_secret(
    local_aliyun: LocalAliyun,
    tmp_path: Path,
    make_provider: Callable[..., CredentialsProvider],
) -> None:
    cloud = local_aliyun
    cloud.create_ram_secret(SECRET)
    cloud.create_ram_secret("sts-key", with_sts_token=True)
    dkms_config = load_config(cloud.write_properties(tmp_path / "d.properties"))
    gateway_config = load_config(
        cloud.write_properties(
            tmp_path / "g.properties",
            mode="gateway",
            credentials_type="ram_role",
            extra={"sts_endpoint": cloud.sts_url, "allow_insecure_http": "true"},
        )
    )
    source = build_source(dkms_config)
    gateway = build_source(gateway_config)
    value = source.get_secret_value("sts-key")
    provider = make_provider(cloud)
    cred = provider.get(SECRET)
    sts_cred = ManagedCredential.from_secret_value(value, fetched_at=0)
    client = ProxyAcsClient(SECRET, provider=provider)
    _check(
        dkms_config,
        gateway_config,
        dkms_config.dkms_instances[0],
        gateway_config.credentials,
        source,
        gateway,
        value,
        cred,
        sts_cred,
        provider,
        client,
        cloud,
        cloud.client_key,
        cloud.current_key(SECRET),
        cloud.current_key("sts-key"),
        cloud.state.get_secret(SECRET),
        Entry("credentials_access_secret", cred.access_key_secret, "credentials_access_secret", tmp_path),
    )
    if hasattr(provider, "status"):
        _check(provider.status())
    assert sts_cred.security_token is not None and secret_hygiene.registry.contains_secret(
        sts_cred.security_token
    )


# -- the SDK log filters installed by common_plugin.sources (regressions found by the guard) ------


def test_sdk_debug_logs_never_show_secret_data_or_sts_tokens(
    local_aliyun: LocalAliyun, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cloud = local_aliyun
    cloud.create_ram_secret(SECRET)
    caplog.set_level(logging.DEBUG)
    # 1. the gateway source with credentials_type=ram_role signs with an STS token; aliyunsdkcore
    #    logs the signed query parameters at DEBUG
    path = cloud.write_properties(
        tmp_path / "g.properties",
        mode="gateway",
        credentials_type="ram_role",
        extra={"sts_endpoint": cloud.sts_url, "allow_insecure_http": "true"},
    )
    build_source(load_config(path)).get_secret_value(SECRET)
    # 2. an application fetching a secret itself through do_action_with_exception, which logs the
    #    whole response body at DEBUG, with an STS key
    sts = cloud.state.create_access_key(with_sts_token=True)
    assert sts.security_token is not None
    acs = cloud.configure_acs_client(
        AcsClient(
            region_id=cloud.region_id,
            credential=StsTokenCredential(sts.access_key_id, sts.access_key_secret, sts.security_token),
            verify=str(cloud.ca_file),
        )
    )
    request = GetSecretValueRequest()
    request.set_SecretName(SECRET)
    secret_data = json.loads(acs.do_action_with_exception(request))["SecretData"]
    # 3. oss2 with an STS key logs its headers and string to sign at DEBUG
    cloud.create_bucket("bkt")
    assert cloud.oss_endpoint is not None
    bucket = oss2.Bucket(
        oss2.StsAuth(sts.access_key_id, sts.access_key_secret, sts.security_token), cloud.oss_endpoint, "bkt"
    )
    bucket.put_object("a.txt", b"x")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "Request received" in text and "Make signature" in text  # the records exist, masked
    key = cloud.current_key(SECRET)
    for secret in (key.access_key_secret, secret_data, sts.security_token):
        assert secret not in text
    assert not secret_hygiene.registry.contains_secret(text)


def test_proxy_acs_client_with_an_sts_secret_logs_no_token(
    local_aliyun: LocalAliyun,
    make_provider: Callable[..., CredentialsProvider],
    caplog: pytest.LogCaptureFixture,
) -> None:
    local_aliyun.create_ram_secret(SECRET, with_sts_token=True)
    caplog.set_level(logging.DEBUG)
    client = ProxyAcsClient(SECRET, provider=make_provider(local_aliyun))
    request = CommonRequest(
        domain=local_aliyun.rpc_endpoint, version="2015-04-01", action_name="GetCallerIdentity", product="Sts"
    )
    request.set_protocol_type("http")
    client.do_action_with_exception(request)
    token = local_aliyun.current_key(SECRET).security_token
    assert token is not None
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "SecurityToken" in text and token not in text

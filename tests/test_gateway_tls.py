"""What the KMS-gateway source trusts: ``kms_ca_file_path``, else ``ALIBABA_CLOUD_CA_BUNDLE`` as AcsClient.

Against the emulator's HTTPS gateway, whose certificate is signed by a CA generated per process; a
second generated CA stands for "some other CA" (a corporate bundle that does not cover the gateway).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from common_plugin import SecretFetchError
from common_plugin.bootstrap import provider_from_config
from common_plugin.config import load_config
from common_plugin.scheduler import ManualScheduler
from common_plugin.sources.gateway import CA_BUNDLE_VARIABLE, GatewaySource
from common_plugin.testing import LocalAliyun
from common_plugin.testing.certs import generate_bundle, write_ca_file
from common_plugin.testing.environment import AMBIENT_VARIABLES

SECRET = "app-key"


@pytest.fixture
def foreign_ca(tmp_path: Path) -> Path:
    """A CA bundle that exists but did not sign the emulator's certificate."""
    folder = tmp_path / "foreign"
    folder.mkdir()
    return write_ca_file(folder, generate_bundle())


@pytest.fixture
def cloud(local_aliyun: LocalAliyun) -> LocalAliyun:
    local_aliyun.create_ram_secret(SECRET)
    return local_aliyun


def _gateway(cloud: LocalAliyun, ca_file_path: str | None = None) -> GatewaySource:
    from aliyunsdkcore.auth.credentials import AccessKeyCredential

    key = cloud.gateway_access_key
    assert key is not None
    return GatewaySource(
        region_id=cloud.region_id,
        endpoint=cloud.kms_endpoint,
        credential=AccessKeyCredential(key.access_key_id, key.access_key_secret),
        ca_file_path=ca_file_path,
    )


def _fetches(source: GatewaySource) -> bool:
    try:
        source.get_secret_value(SECRET)
    except SecretFetchError:
        return False
    return True


def _plain_acs_client_fetches(cloud: LocalAliyun) -> bool:
    """The same request through an AcsClient built as applications build it (no ``verify``)."""
    from aliyunsdkcore.acs_exception.exceptions import ClientException
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkkms.request.v20160120.GetSecretValueRequest import GetSecretValueRequest

    key = cloud.gateway_access_key
    assert key is not None
    client = AcsClient(key.access_key_id, key.access_key_secret, cloud.region_id, auto_retry=False)
    request = GetSecretValueRequest()
    request.set_SecretName(SECRET)
    request.set_accept_format("JSON")
    request.set_endpoint(cloud.kms_endpoint)
    try:
        # not do_action_with_exception: that logs the whole body (the secret) at DEBUG
        status, _headers, _body, exception = client._implementation_of_do_action(request)
    except ClientException:
        return False
    finally:
        client.session.close()
    return status == 200 and exception is None


def test_the_variable_is_cleared_for_every_test() -> None:
    # A developer's own ALIBABA_CLOUD_CA_BUNDLE must not decide what these tests trust.
    assert CA_BUNDLE_VARIABLE in AMBIENT_VARIABLES
    assert CA_BUNDLE_VARIABLE not in os.environ


@pytest.mark.parametrize("bundle", ["unset", "emulator CA", "foreign CA"])
def test_trust_is_what_a_plain_acs_client_trusts(
    cloud: LocalAliyun, foreign_ca: Path, monkeypatch: pytest.MonkeyPatch, bundle: str
) -> None:
    chosen = {"emulator CA": str(cloud.ca_file), "foreign CA": str(foreign_ca)}.get(bundle)
    if chosen is not None:
        monkeypatch.setenv(CA_BUNDLE_VARIABLE, chosen)
    ours = _fetches(_gateway(cloud))
    assert ours == _plain_acs_client_fetches(cloud)
    assert ours is (bundle == "emulator CA")


def test_kms_ca_file_path_wins_over_the_variable(
    cloud: LocalAliyun, foreign_ca: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CA_BUNDLE_VARIABLE, str(foreign_ca))
    assert _fetches(_gateway(cloud, ca_file_path=str(cloud.ca_file)))
    monkeypatch.setenv(CA_BUNDLE_VARIABLE, "")  # would mean "verify nothing" to aliyunsdkcore: unused here
    assert _fetches(_gateway(cloud, ca_file_path=str(cloud.ca_file)))


def test_the_variable_is_read_per_request_as_aliyunsdkcore_reads_it(
    cloud: LocalAliyun, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _gateway(cloud)  # built before the variable is set
    monkeypatch.setenv(CA_BUNDLE_VARIABLE, str(cloud.ca_file))
    assert source.get_secret_value(SECRET).secret_name == SECRET


def test_a_config_without_kms_ca_file_path_uses_the_variable(
    cloud: LocalAliyun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = cloud.write_properties(tmp_path / "p.properties", mode="gateway")
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(x for x in lines if not x.startswith("kms_ca_file_path")), encoding="utf-8")
    config = load_config(path)
    assert config.kms_ca_file_path is None
    monkeypatch.setenv(CA_BUNDLE_VARIABLE, str(cloud.ca_file))
    with provider_from_config(config, scheduler=ManualScheduler(), preload=False) as provider:
        assert provider.get(SECRET).access_key_id == cloud.current_key(SECRET).access_key_id


@pytest.mark.parametrize("bundle", ["unset", "foreign CA"])
def test_an_untrusted_certificate_is_reported_as_one(
    cloud: LocalAliyun, foreign_ca: Path, monkeypatch: pytest.MonkeyPatch, bundle: str
) -> None:
    if bundle == "foreign CA":
        monkeypatch.setenv(CA_BUNDLE_VARIABLE, str(foreign_ca))
    source = _gateway(cloud)
    with pytest.raises(SecretFetchError) as info:
        source.get_secret_value(SECRET)
    message = str(info.value)
    assert (
        f"certificate verify failed for {cloud.kms_endpoint}; "
        "set kms_ca_file_path or ALIBABA_CLOUD_CA_BUNDLE" in message
    )
    assert "unreachable" not in message
    trusted = "aliyunsdkcore's bundled CAs"
    if bundle == "foreign CA":
        trusted = f"{CA_BUNDLE_VARIABLE} {foreign_ca}"
    assert f"now: {trusted}" in message
    assert info.value.code == "SDK.HttpError" and info.value.retryable  # another source may be trusted
    assert cloud.count("kms") == 0  # refused during the handshake, before any request


@pytest.mark.parametrize("value", ["", "missing.pem"])
def test_a_variable_aliyunsdkcore_would_misuse_is_refused(
    cloud: LocalAliyun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(CA_BUNDLE_VARIABLE, str(tmp_path / value) if value else "")
    source = _gateway(cloud)
    with pytest.raises(SecretFetchError) as info:
        source.get_secret_value(SECRET)
    expected = "does not exist" if value else "set but empty"
    assert CA_BUNDLE_VARIABLE in str(info.value) and expected in str(info.value)
    assert info.value.code == "SDK.InvalidCaBundle" and not info.value.retryable
    assert cloud.count("kms") == 0  # an empty value must not become an unverified request

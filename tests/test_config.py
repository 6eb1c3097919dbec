"""The configuration layer: every key good and bad, sources and precedence, and secrets kept out of
messages and reprs."""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import PrivateFormat, pkcs12

from common_plugin.config import (
    DEFAULT_CONFIG_NAME,
    KNOWN_KEYS,
    KmsRegionConfig,
    ProviderConfig,
    RamInstanceConfig,
    load_config,
)
from common_plugin.config.config_loader import ConfigLoader
from common_plugin.exceptions import ConfigError

PASSWORD = "p#ss:w0rd=S3cr3t!"  # '#', ':' and '=' are data, not syntax
AK_ID = "LTAI5tAbCdEfGhIjKlMn"
AK_SECRET = "AkSecretValue#0123456789abcdef"
KEY_ID = "KAAP.0f3d2a11-aaaa-bbbb-cccc-123456789012"

# Strings that must never appear in an error message or a repr.
SECRETS = (PASSWORD, AK_SECRET, "wrong-Passw0rd")


@lru_cache(maxsize=1)
def _pkcs12_base64() -> str:
    """One PKCS#12 per test session: RSA key generation is the slow part."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encryption = PrivateFormat.PKCS12.encryption_builder().kdf_rounds(1000).build(PASSWORD.encode())
    blob = pkcs12.serialize_key_and_certificates(b"client-key", key, None, None, encryption)
    return base64.b64encode(blob).decode()


def _write_client_key(folder: Path, name: str = "clientKey.json", **overrides: Any) -> Path:
    document: dict[str, Any] = {"KeyId": KEY_ID, "PrivateKeyData": _pkcs12_base64()}
    document.update(overrides)
    path = folder / name
    path.write_text(json.dumps({k: v for k, v in document.items() if v is not None}))
    return path


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    """A folder with clientKey.json, password.txt (CRLF-terminated) and ca.pem."""
    folder = tmp_path / "keys"
    folder.mkdir()
    _write_client_key(folder)
    (folder / "password.txt").write_text(PASSWORD + "\r\n", newline="")
    (folder / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    return folder


@pytest.fixture(autouse=True)
def _default_config_name() -> Iterator[None]:
    ConfigLoader.reset_config_name()
    yield
    ConfigLoader.reset_config_name()


def dkms(**fields: Any) -> str:
    item: dict[str, Any] = {
        "regionId": "cn-hangzhou",
        "endpoint": "kst-hzz1.cryptoservice.kms.aliyuncs.com",
        "clientKeyFile": "clientKey.json",
        "passwordFromFilePath": "password.txt",
    }
    item.update(fields)
    return json.dumps([{k: v for k, v in item.items() if v is not None}])


def load(props: dict[str, str], base: Path, environ: dict[str, str] | None = None) -> ProviderConfig:
    return load_config(props, environ=environ or {}, base_dir=base)


def fail(props: dict[str, str], base: Path, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(props, base, environ)
    message = str(info.value)
    for secret in SECRETS:
        assert secret not in message
    return info.value


# --- DKMS instances -----------------------------------------------------------------------------


def test_minimal_dkms(keys: Path) -> None:
    config = load({"cache_client_dkms_config_info": dkms()}, keys)
    (instance,) = config.dkms_instances
    assert instance.region_id == "cn-hangzhou"
    assert instance.endpoint == "kst-hzz1.cryptoservice.kms.aliyuncs.com"
    assert instance.client_key_file == keys / "clientKey.json"
    assert instance.client_key_id == KEY_ID
    assert json.loads(instance.client_key_content)["KeyId"] == KEY_ID
    assert instance.password == PASSWORD  # trailing CR/LF stripped
    assert instance.password_source == f"file {keys / 'password.txt'}"
    assert instance.ignore_ssl_certs is False
    assert instance.ca_file_path is None
    assert config.kms_regions == () and config.credentials is None and config.secret_names == ()
    assert config.refresh_interval_seconds == 6 * 3600
    assert config.min_refresh_interval_seconds == 60
    assert config.request_timeout_seconds == 10
    assert config.max_fetch_attempts == 4
    assert config.kms_ca_file_path is None and config.source_path is None


def test_dkms_password_from_env_and_options(keys: Path) -> None:
    value = dkms(
        passwordFromFilePath=None,
        passwordFromEnvVariable="CLIENT_KEY_PW",
        ignoreSslCerts="TRUE",
        caFilePath="ca.pem",
    )
    config = load({"cache_client_dkms_config_info": value}, keys, {"CLIENT_KEY_PW": PASSWORD})
    (instance,) = config.dkms_instances
    assert instance.password == PASSWORD
    assert instance.password_source == "env CLIENT_KEY_PW"
    assert instance.ignore_ssl_certs is True
    assert instance.ca_file_path == keys / "ca.pem"


def test_several_dkms_instances_and_single_object(keys: Path) -> None:
    two = json.loads(dkms()) + json.loads(dkms(regionId="cn-shanghai", ignoreSslCerts=False))
    config = load({"cache_client_dkms_config_info": json.dumps(two)}, keys)
    assert [i.region_id for i in config.dkms_instances] == ["cn-hangzhou", "cn-shanghai"]
    single = json.dumps(json.loads(dkms())[0])
    assert len(load({"cache_client_dkms_config_info": single}, keys).dkms_instances) == 1


def test_home_is_expanded(keys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(keys))
    config = load(
        {
            "cache_client_dkms_config_info": dkms(
                clientKeyFile="~/clientKey.json", passwordFromFilePath="~/password.txt"
            )
        },
        Path("/"),
    )
    assert config.dkms_instances[0].client_key_file == keys / "clientKey.json"


DKMS_ERRORS = [
    ("not JSON", "[{'regionId': 1}]", "not valid JSON: Expecting property name"),
    ("not array", "42", "non-empty JSON array"),
    ("empty array", "[]", "non-empty JSON array"),
    ("item not object", "[1]", "[0]: must be a JSON object"),
    ("missing regionId", dkms(regionId=None), "'regionId' is required"),
    ("missing endpoint", dkms(endpoint=""), "'endpoint' is required"),
    ("missing clientKeyFile", dkms(clientKeyFile=None), "'clientKeyFile' is required"),
    ("no password source", dkms(passwordFromFilePath=None), "exactly one of passwordFromFilePath"),
    ("two password sources", dkms(passwordFromEnvVariable="X"), "exactly one of passwordFromFilePath"),
    ("FilePathName", dkms(passwordFromFilePathName="k"), "passwordFromFilePathName is not supported"),
    (
        "unknown field",
        dkms(clientKeyfile="x"),
        "unknown field 'clientKeyfile'; did you mean 'clientKeyFile'?",
    ),
    ("SSL spelling", dkms(ignoreSSLCerts=True), "did you mean 'ignoreSslCerts'?"),
    ("bool word", dkms(ignoreSslCerts="yes"), "ignoreSslCerts: must be true or false"),
    ("bool number", dkms(ignoreSslCerts=1), "ignoreSslCerts: must be true or false"),
    ("endpoint type", dkms(caFilePath=5), "'caFilePath' must be a string"),
    ("missing CA", dkms(caFilePath="nope.pem"), "caFilePath: CA file"),
    ("missing key file", dkms(clientKeyFile="nope.json"), "clientKeyFile: client key file"),
    ("missing password file", dkms(passwordFromFilePath="nope.txt"), "passwordFromFilePath: password file"),
    ("env var unset", dkms(passwordFromFilePath=None, passwordFromEnvVariable="PW_VAR"), "PW_VAR"),
]


@pytest.mark.parametrize(("value", "expected"), [c[1:] for c in DKMS_ERRORS], ids=[c[0] for c in DKMS_ERRORS])
def test_dkms_errors(keys: Path, value: str, expected: str) -> None:
    error = fail({"cache_client_dkms_config_info": value}, keys)
    assert expected in str(error)
    assert error.key == "cache_client_dkms_config_info"
    assert "cache_client_dkms_config_info" in str(error)


def test_missing_file_error_names_path_and_base(keys: Path) -> None:
    error = fail({"cache_client_dkms_config_info": dkms(clientKeyFile="sub/nope.json")}, keys)
    assert str(keys / "sub" / "nope.json") in str(error)
    assert f"resolves against {keys}" in str(error)
    assert error.path == str(keys / "sub" / "nope.json")


def test_env_var_unset_message(keys: Path) -> None:
    error = fail(
        {"cache_client_dkms_config_info": dkms(passwordFromFilePath=None, passwordFromEnvVariable="PW")}, keys
    )
    assert "environment variable PW " in str(error) and "is not set" in str(error)


def test_wrong_password(keys: Path) -> None:
    (keys / "password.txt").write_text("wrong-Passw0rd\n")
    error = fail({"cache_client_dkms_config_info": dkms()}, keys)
    message = str(error)
    assert "wrong password or corrupt key file" in message
    assert str(keys / "clientKey.json") in message
    assert f"file {keys / 'password.txt'}" in message


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"PrivateKeyData": "not base64!!"}, "wrong password or corrupt key file"),
        ({"PrivateKeyData": base64.b64encode(b"junk").decode()}, "wrong password or corrupt key file"),
        ({"KeyId": None}, "lacks KeyId or PrivateKeyData"),
        ({"PrivateKeyData": None}, "lacks KeyId or PrivateKeyData"),
    ],
)
def test_bad_client_key_file(keys: Path, overrides: dict[str, Any], expected: str) -> None:
    _write_client_key(keys, **overrides)
    assert expected in str(fail({"cache_client_dkms_config_info": dkms()}, keys))


def test_client_key_file_not_json(keys: Path) -> None:
    (keys / "clientKey.json").write_text('{"KeyId": "KAAP.x", PrivateKeyData}')
    message = str(fail({"cache_client_dkms_config_info": dkms()}, keys))
    assert "not valid JSON in" in message and "line 1 column 21" in message
    assert "KAAP.x" not in message


def test_client_key_file_not_object(keys: Path) -> None:
    (keys / "clientKey.json").write_text("[]")
    assert "must hold a JSON object" in str(fail({"cache_client_dkms_config_info": dkms()}, keys))


def test_bad_json_names_position_not_text(keys: Path) -> None:
    value = '[{"regionId": "cn-hangzhou", "endpoint": "distinctive-host" "x"}]'
    message = str(fail({"cache_client_dkms_config_info": value}, keys))
    assert message.startswith(
        "cache_client_dkms_config_info: not valid JSON: Expecting ',' delimiter at character 61 of the value"
    )
    assert "distinctive-host" not in message


def test_bad_json_in_a_file_names_the_file_and_its_line(tmp_path: Path) -> None:
    """Not the decoder's "line 1 column 62", which reads like a place in the file."""
    path = tmp_path / "app.properties"
    value = '[{"regionId": "cn-hangzhou", "endpoint": "distinctive-host" "x"}]'
    path.write_text(f"# comment\n\nrefresh_interval=6h\ncache_client_dkms_config_info={value}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert message.startswith(
        f"cache_client_dkms_config_info ({path}, line 4): not valid JSON: Expecting ',' delimiter at "
        "character 61 of the value"
    )
    assert "distinctive-host" not in message and "column" not in message
    assert info.value.path == str(path) and info.value.key == "cache_client_dkms_config_info"


def test_unknown_credentials_type_names_file_line_and_value(tmp_path: Path) -> None:
    path = tmp_path / "app.properties"
    path.write_text('cache_client_region_id=[{"regionId":"r"}]\ncredentials_type=akk\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(info.value) == (
        f"credentials_type ({path}, line 2): unknown credentials type 'akk'; use one of ak, sts, "
        "ram_role, ecs_ram_role, client_key; did you mean 'ak'?"
    )


def test_unknown_credentials_type_never_echoes_what_may_be_a_secret(tmp_path: Path) -> None:
    """A secret pasted on the wrong line is not shown; a type name is short and all letters."""
    for value in (AK_SECRET, AK_ID, "Sup3rSecret"):
        error = fail({"cache_client_region_id": REGION, "credentials_type": value}, tmp_path)
        assert "unknown credentials type (not shown)" in str(error) and value not in str(error)


# --- shared gateway regions and credentials -------------------------------------------------------

AK = {"credentials_type": "ak", "credentials_access_key_id": AK_ID, "credentials_access_secret": AK_SECRET}


# --- KMS instances reached with RAM credentials (DKMS entries without a client key) ----------------


def ram_instance(**fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "regionId": "cn-shanghai",
        "endpoint": "kst-shh2.cryptoservice.kms.aliyuncs.com",
        "caFilePath": "ca.pem",
    }
    item.update(fields)
    return {k: v for k, v in item.items() if v is not None}


def test_an_entry_without_a_client_key_is_reached_with_ram_credentials(keys: Path) -> None:
    entries = [json.loads(dkms())[0], ram_instance(), ram_instance(regionId="cn-beijing", caFilePath=None)]
    config = load({**AK, "cache_client_dkms_config_info": json.dumps(entries)}, keys)
    assert [i.region_id for i in config.dkms_instances] == ["cn-hangzhou"]
    assert config.ram_instances == (
        RamInstanceConfig(
            "cn-shanghai",
            "kst-shh2.cryptoservice.kms.aliyuncs.com",
            keys / "ca.pem",
            "cache_client_dkms_config_info[1]",
        ),
        RamInstanceConfig(
            "cn-beijing", "kst-shh2.cryptoservice.kms.aliyuncs.com", None, "cache_client_dkms_config_info[2]"
        ),
    )
    assert config.credentials is not None and config.credentials.type == "ak"
    only = load({**AK, "cache_client_dkms_config_info": json.dumps(ram_instance(ignoreSslCerts=False))}, keys)
    assert only.dkms_instances == () and len(only.ram_instances) == 1 and only.kms_regions == ()


@pytest.mark.parametrize("credentials_type", ["sts", "ram_role", "ecs_ram_role"])
def test_ram_instances_take_every_openapi_credential_type(keys: Path, credentials_type: str) -> None:
    props = {
        "credentials_type": credentials_type,
        "credentials_access_key_id": AK_ID,
        "credentials_access_secret": AK_SECRET,
        "credentials_role_arn": "acs:ram::1:role/r",
        "credentials_role_name": "EcsRole",
        "cache_client_dkms_config_info": json.dumps([ram_instance()]),
    }
    assert load(props, keys).ram_instances[0].region_id == "cn-shanghai"


DKMS_KEY = "cache_client_dkms_config_info"
RAM_INSTANCE_ERRORS = [
    ("no credentials_type", {}, ram_instance(), "credentials_type", "[0] has no clientKeyFile"),
    (
        "client_key cannot sign OpenAPI",
        {
            "credentials_type": "client_key",
            "client_key_private_key_path": "clientKey.json",
            "client_key_password_from_file_path": "password.txt",
        },
        ram_instance(),
        "credentials_type",
        "'client_key' cannot sign OpenAPI calls to a KMS instance",
    ),
    (
        "TLS stays on",
        AK,
        ram_instance(ignoreSslCerts=True),
        "cache_client_dkms_config_info",
        "[0].ignoreSslCerts: an instance reached with RAM credentials is always verified; set caFilePath",
    ),
    (
        "mistyped clientKeyFile",
        AK,
        ram_instance(clientKeyfile="clientKey.json"),
        "cache_client_dkms_config_info",
        "unknown field 'clientKeyfile'; did you mean 'clientKeyFile'?",
    ),
    (
        "mistyped caFilePath",
        AK,
        ram_instance(caFilepath="ca.pem"),
        "cache_client_dkms_config_info",
        "did you mean 'caFilePath'?",
    ),
    ("no endpoint", AK, ram_instance(endpoint=None), DKMS_KEY, "'endpoint' is required"),
    ("no CA file", AK, ram_instance(caFilePath="nope.pem"), DKMS_KEY, "caFilePath: CA file"),
]


@pytest.mark.parametrize(
    ("props", "entry", "key", "expected"),
    [c[1:] for c in RAM_INSTANCE_ERRORS],
    ids=[c[0] for c in RAM_INSTANCE_ERRORS],
)
def test_ram_instance_errors(keys: Path, props: dict[str, str], entry: Any, key: str, expected: str) -> None:
    error = fail({**props, "cache_client_dkms_config_info": json.dumps([entry])}, keys)
    assert error.key == key
    assert expected in str(error) and "cache_client_dkms_config_info[0]" in str(error)


def test_regions_and_endpoints(tmp_path: Path) -> None:
    regions = [
        {"regionId": "cn-hangzhou"},
        {"regionId": "cn-shanghai", "vpc": True},
        {"regionId": "cn-beijing", "endpoint": "127.0.0.1:8443", "vpc": "false"},
    ]
    config = load({**AK, "cache_client_region_id": json.dumps(regions)}, tmp_path)
    assert config.kms_regions == (
        KmsRegionConfig("cn-hangzhou"),
        KmsRegionConfig("cn-shanghai", None, True),
        KmsRegionConfig("cn-beijing", "127.0.0.1:8443", False),
    )
    assert [r.resolved_endpoint() for r in config.kms_regions] == [
        "kms.cn-hangzhou.aliyuncs.com",
        "kms-vpc.cn-shanghai.aliyuncs.com",
        "127.0.0.1:8443",
    ]
    assert config.dkms_instances == ()


REGION_ERRORS = [
    ("not JSON", "[", "not valid JSON"),
    ("missing regionId", '[{"vpc": true}]', "'regionId' is required"),
    ("bad vpc", '[{"regionId": "r", "vpc": "yes"}]', "vpc: must be true or false"),
    ("unknown field", '[{"regionId": "r", "regionID": "r"}]', "did you mean 'regionId'?"),
    ("endpoint not string", '[{"regionId": "r", "endpoint": 1}]', "'endpoint' must be a string"),
]


@pytest.mark.parametrize(
    ("value", "expected"), [c[1:] for c in REGION_ERRORS], ids=[c[0] for c in REGION_ERRORS]
)
def test_region_errors(tmp_path: Path, value: str, expected: str) -> None:
    error = fail({**AK, "cache_client_region_id": value}, tmp_path)
    assert expected in str(error)
    assert error.key == "cache_client_region_id"


def test_regions_need_credentials_type(tmp_path: Path) -> None:
    error = fail({"cache_client_region_id": '[{"regionId": "cn-hangzhou"}]'}, tmp_path)
    assert "credentials_type" in str(error) and error.key == "cache_client_region_id"


REGION = '[{"regionId": "cn-hangzhou"}]'
GOOD_CREDENTIALS = [
    (AK, {"type": "ak", "access_key_id": AK_ID, "access_key_secret": AK_SECRET}),
    (
        {
            "credentials_type": "token",
            "credentials_access_token_id": AK_ID,
            "credentials_access_token": AK_SECRET,
        },
        {"type": "ak", "access_key_id": AK_ID, "access_key_secret": AK_SECRET},
    ),
    (
        {**AK, "credentials_type": "STS", "credentials_role_arn": "acs:ram::1:role/r"},
        {
            "type": "sts",
            "role_arn": "acs:ram::1:role/r",
            "role_session_name": None,
            "access_key_secret": AK_SECRET,
        },
    ),
    (
        {
            **AK,
            "credentials_type": "ram_role",
            "credentials_role_arn": "arn",
            "credentials_role_session_name": "s",
        },
        {"type": "ram_role", "role_arn": "arn", "role_session_name": "s", "access_key_id": AK_ID},
    ),
    (
        {"credentials_type": "ecs_ram_role", "credentials_role_name": "EcsRole"},
        {"type": "ecs_ram_role", "role_name": "EcsRole", "access_key_id": None},
    ),
]


@pytest.mark.parametrize(
    ("props", "expected"), GOOD_CREDENTIALS, ids=lambda x: str(x.get("credentials_type", ""))
)
def test_credentials_types(tmp_path: Path, props: dict[str, str], expected: dict[str, Any]) -> None:
    credentials = load({**props, "cache_client_region_id": REGION}, tmp_path).credentials
    assert credentials is not None
    for name, value in expected.items():
        assert getattr(credentials, name) == value


def test_client_key_credentials(keys: Path) -> None:
    props = {
        "credentials_type": "client_key",
        "client_key_private_key_path": "clientKey.json",
        "client_key_password_from_env_variable": "GW_PW",
        "cache_client_region_id": REGION,
    }
    credentials = load(props, keys, {"GW_PW": PASSWORD}).credentials
    assert credentials is not None
    assert credentials.type == "client_key"
    assert credentials.client_key_file == keys / "clientKey.json"
    assert credentials.client_key_id == KEY_ID
    assert credentials.client_key_password == PASSWORD
    assert credentials.client_key_password_source == "env GW_PW"
    props.pop("client_key_password_from_env_variable")
    props["client_key_password_from_file_path"] = "password.txt"
    credentials = load(props, keys).credentials
    assert credentials is not None and credentials.client_key_password == PASSWORD


CREDENTIAL_ERRORS = [
    ({"credentials_type": "magic"}, "credentials_type", "unknown credentials type"),
    ({"credentials_type": "ak", "credentials_access_key_id": AK_ID}, "credentials_access_secret", "needs"),
    (
        {"credentials_type": "ak", "credentials_access_secret": AK_SECRET},
        "credentials_access_key_id",
        "needs",
    ),
    (
        {"credentials_type": "token", "credentials_access_token_id": AK_ID},
        "credentials_access_token",
        "needs",
    ),
    ({**AK, "credentials_type": "sts"}, "credentials_role_arn", "needs"),
    ({"credentials_type": "ram_role", "credentials_role_arn": "a"}, "credentials_access_key_id", "needs"),
    ({"credentials_type": "ecs_ram_role"}, "credentials_role_name", "needs"),
    ({"credentials_type": "client_key"}, "client_key_private_key_path", "needs"),
    (
        {"credentials_type": "client_key", "client_key_private_key_path": "clientKey.json"},
        "client_key_password_from_file_path",
        "exactly one of",
    ),
    (
        {
            "credentials_type": "client_key",
            "client_key_private_key_path": "clientKey.json",
            "client_key_password_from_env_variable": "UNSET_PW",
        },
        "client_key_password_from_env_variable",
        "UNSET_PW",
    ),
    (
        {
            "credentials_type": "client_key",
            "client_key_private_key_path": "missing.json",
            "client_key_password_from_file_path": "password.txt",
        },
        "client_key_private_key_path",
        "missing.json",
    ),
]


@pytest.mark.parametrize(("props", "key", "expected"), CREDENTIAL_ERRORS)
def test_credential_errors(keys: Path, props: dict[str, str], key: str, expected: str) -> None:
    error = fail({**props, "cache_client_region_id": REGION}, keys)
    assert error.key == key
    assert key in str(error) and expected in str(error)


def test_client_key_wrong_password(keys: Path) -> None:
    props = {
        "credentials_type": "client_key",
        "client_key_private_key_path": "clientKey.json",
        "client_key_password_from_env_variable": "GW_PW",
        "cache_client_region_id": REGION,
    }
    error = fail(props, keys, {"GW_PW": "wrong-Passw0rd"})
    assert "wrong password or corrupt key file" in str(error) and "env GW_PW" in str(error)


# --- scalar keys ----------------------------------------------------------------------------------


def _base(keys: Path, **extra: str) -> dict[str, str]:
    return {"cache_client_dkms_config_info": dkms(), **extra}


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("6h", 21600), ("90m", 5400), ("3600s", 3600), ("3600", 3600), (" 1.5h ", 5400), ("2d", 172800)],
)
def test_refresh_interval(keys: Path, raw: str, seconds: float) -> None:
    assert load(_base(keys, refresh_interval=raw), keys).refresh_interval_seconds == seconds


@pytest.mark.parametrize(
    ("key", "raw", "field", "value"),
    [
        ("min_refresh_interval", "30s", "min_refresh_interval_seconds", 30),
        ("request_timeout", "2.5", "request_timeout_seconds", 2.5),
        ("request_timeout", "1m", "request_timeout_seconds", 60),
        ("max_fetch_attempts", "7", "max_fetch_attempts", 7),
        ("secret_names", " a, b ,,a , c,", "secret_names", ("a", "b", "c")),
        ("secret_names", "", "secret_names", ()),
    ],
)
def test_scalar_keys(keys: Path, key: str, raw: str, field: str, value: Any) -> None:
    assert getattr(load(_base(keys, **{key: raw}), keys), field) == value


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("refresh_interval", "soon"),
        ("refresh_interval", "0"),
        ("refresh_interval", "-5s"),
        ("refresh_interval", "10x"),
        ("min_refresh_interval", "0s"),
        ("request_timeout", "fast"),
        ("max_fetch_attempts", "0"),
        ("max_fetch_attempts", "2.5"),
        ("max_fetch_attempts", "-1"),
    ],
)
def test_bad_scalar_keys(keys: Path, key: str, raw: str) -> None:
    error = fail(_base(keys, **{key: raw}), keys)
    assert error.key == key and key in str(error)
    assert f"'{raw}'" not in str(error) and f" {raw} " not in str(error)


def test_refresh_shorter_than_minimum(keys: Path) -> None:
    error = fail(_base(keys, refresh_interval="30s", min_refresh_interval="1m"), keys)
    assert error.key == "refresh_interval" and "min_refresh_interval" in str(error)


def test_kms_ca_file_path(keys: Path) -> None:
    assert load(_base(keys, kms_ca_file_path="ca.pem"), keys).kms_ca_file_path == keys / "ca.pem"
    error = fail(_base(keys, kms_ca_file_path="other.pem"), keys)
    assert error.key == "kms_ca_file_path" and str(keys / "other.pem") in str(error)


def test_nothing_to_fetch_from(tmp_path: Path) -> None:
    error = fail({"secret_names": "a"}, tmp_path)
    assert "cache_client_dkms_config_info" in str(error) and "cache_client_region_id" in str(error)


# --- keys: unknown, retired, types --------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("secret_name", "did you mean 'secret_names'?"),
        ("SECRET_NAMES", "did you mean 'secret_names'?"),
        ("cache_client_dkms_config", "did you mean 'cache_client_dkms_config_info'?"),
        ("credential_type", "did you mean 'credentials_type'?"),
        ("monitor_period_milliseconds", "use refresh_interval"),
        ("client_key_password", "never put the password in the configuration"),
        ("zzzz", ""),
    ],
)
def test_unknown_keys(keys: Path, key: str, hint: str) -> None:
    error = fail(_base(keys, **{key: PASSWORD}), keys)
    assert f"unknown key {key!r}" in str(error) and hint in str(error)
    assert error.key == key


def test_non_string_value(keys: Path) -> None:
    props: dict[str, Any] = {**_base(keys), "max_fetch_attempts": 3}
    error = fail(props, keys)
    assert "must be a string, not int" in str(error) and error.key == "max_fetch_attempts"


def test_config_is_frozen(keys: Path) -> None:
    config = load(_base(keys), keys)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.max_fetch_attempts = 1  # type: ignore[misc]


def test_known_keys() -> None:
    assert "cache_client_dkms_config_info" in KNOWN_KEYS and "refresh_interval" in KNOWN_KEYS
    assert all(key == key.lower() for key in KNOWN_KEYS)


# --- reprs --------------------------------------------------------------------------------------


def test_repr_hides_secrets(keys: Path) -> None:
    props = {
        **_base(keys),
        **AK,
        "credentials_type": "ram_role",
        "credentials_role_arn": "acs:ram::1:role/r",
        "cache_client_region_id": REGION,
    }
    config = load(props, keys)
    text = repr(config)
    for secret in (PASSWORD, AK_SECRET, AK_ID, _pkcs12_base64()[:40], "PrivateKeyData"):
        assert secret not in text
    assert "LTAI****KlMn" in text and KEY_ID in text and "cn-hangzhou" in text
    gateway = {
        "credentials_type": "client_key",
        "client_key_private_key_path": "clientKey.json",
        "client_key_password_from_file_path": "password.txt",
        "cache_client_region_id": REGION,
    }
    text = repr(load(gateway, keys))
    assert PASSWORD not in text and "PrivateKeyData" not in text and "password.txt" in text


# --- files, relative paths, environment, ConfigLoader ----------------------------------------------


def _write_properties(folder: Path, name: str = DEFAULT_CONFIG_NAME, **props: str) -> Path:
    path = folder / name
    lines = [f"{key}={value}" for key, value in props.items()]
    path.write_text("# generated\n" + "\n".join(lines) + "\n")
    return path


def test_file_source_resolves_paths_against_its_folder(
    keys: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write_properties(keys, "app.properties", cache_client_dkms_config_info=dkms(), secret_names="s1")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(path, environ={})
    assert config.source_path == path
    assert config.dkms_instances[0].client_key_file == keys / "clientKey.json"
    assert config.secret_names == ("s1",)
    relative = load_config("../keys/app.properties", environ={})
    assert relative.dkms_instances[0].client_key_file == keys / "clientKey.json"


def test_explicit_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist") as info:
        load_config(tmp_path / "nope.properties", environ={"CACHE_CLIENT_DKMS_CONFIG_INFO": "[]"})
    assert info.value.path == str(tmp_path / "nope.properties")


def test_malformed_escape_in_file(tmp_path: Path) -> None:
    path = tmp_path / "x.properties"
    path.write_text("secret_names=a\ncredentials_access_secret=ab\\u12\n")
    with pytest.raises(ConfigError, match="line 2") as info:
        load_config(path, environ={})
    assert str(path) in str(info.value)


def test_default_file_missing_and_no_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config(environ={"PATH": "/bin", "HOME": "/root"})
    message = str(info.value)
    assert str(tmp_path / DEFAULT_CONFIG_NAME) in message and "ConfigLoader.set_config_name" in message


def test_default_file_missing_env_complete(keys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(keys)  # env relative paths resolve against the working directory
    config = load_config(environ={"CACHE_CLIENT_DKMS_CONFIG_INFO": dkms(), "secret_names": "a,b"})
    assert config.source_path is None
    assert config.dkms_instances[0].client_key_file == keys / "clientKey.json"
    assert config.secret_names == ("a", "b")


def test_default_file_missing_env_incomplete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="only environment variables were read") as info:
        load_config(environ={"SECRET_NAMES": "a"})
    assert str(tmp_path / DEFAULT_CONFIG_NAME) in str(info.value)


def test_default_file_in_working_directory(keys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write_properties(keys, cache_client_dkms_config_info=dkms())
    monkeypatch.chdir(keys)
    assert load_config(environ={}).source_path == path
    assert ConfigLoader.load(environ={}).source_path == path


def test_file_wins_over_environment(keys: Path, tmp_path: Path) -> None:
    env_folder = tmp_path / "envbase"
    env_folder.mkdir()
    (env_folder / "ca.pem").write_text("x")
    environ = {
        "secret_names": "from-env",
        "SECRET_NAMES": "from-env-upper",
        "REFRESH_INTERVAL": "1h",
        "KMS_CA_FILE_PATH": "ca.pem",
        "request_timeout": "   ",  # empty counts as unset
        "UNRELATED_VARIABLE": "x",
        "max_fetch_attempts": "9",
    }
    path = _write_properties(
        keys, "a.properties", cache_client_dkms_config_info=dkms(), max_fetch_attempts="2"
    )
    config = load_config(path, environ=environ, base_dir=env_folder)
    assert config.max_fetch_attempts == 2  # file wins
    assert config.secret_names == ("from-env",)  # exact name before UPPER_CASE
    assert config.refresh_interval_seconds == 3600  # UPPER_CASE form
    assert config.kms_ca_file_path == env_folder / "ca.pem"  # env paths resolve against base_dir
    assert config.request_timeout_seconds == 10


def test_empty_file_value_hides_environment(keys: Path) -> None:
    config = load(_base(keys, secret_names=""), keys, {"SECRET_NAMES": "x"})
    assert config.secret_names == ()


def test_env_error_names_variable(keys: Path) -> None:
    error = fail(_base(keys), keys, {"MAX_FETCH_ATTEMPTS": "lots"})
    assert "environment variable MAX_FETCH_ATTEMPTS" in str(error)


def test_config_loader_custom_name(keys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aliyun_sdk_secretsmanager_common_plugin.utils.config_loader import ConfigLoader as Original

    assert Original is ConfigLoader
    _write_properties(keys, "custom-config", cache_client_dkms_config_info=dkms(), secret_names="c")
    monkeypatch.chdir(keys)
    assert ConfigLoader.get_config_name() == DEFAULT_CONFIG_NAME
    Original.set_config_name("custom-config")
    assert ConfigLoader.get_config_name() == "custom-config"
    config = ConfigLoader.load(environ={})
    assert config.secret_names == ("c",) and config.source_path == keys / "custom-config"
    ConfigLoader.set_config_name(keys / "absent.properties")
    with pytest.raises(ConfigError, match="absent.properties"):
        ConfigLoader.load(environ={})
    ConfigLoader.reset_config_name()
    assert ConfigLoader.get_config_name() == DEFAULT_CONFIG_NAME


def test_config_loader_rejects_empty_name() -> None:
    with pytest.raises(ConfigError):
        ConfigLoader.set_config_name("  ")


def test_config_loader_threads() -> None:
    names = [f"n{i}.properties" for i in range(16)]
    threads = [threading.Thread(target=ConfigLoader.set_config_name, args=(n,)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ConfigLoader.get_config_name() in names


def test_hash_in_values_survives_the_file(keys: Path) -> None:
    props = {**AK, "cache_client_region_id": REGION}
    path = _write_properties(keys, "gw.properties", **props)
    credentials = load_config(path, environ={}).credentials
    assert credentials is not None and credentials.access_key_secret == AK_SECRET


@pytest.mark.parametrize(
    "value, seconds, fraction",
    [("90%", 300.0, 0.9), ("30m", 1800.0, 0.0), ("0%", 300.0, 0.0)],
)
def test_rotation_refresh_spread(value: str, seconds: float, fraction: float, tmp_path: Path) -> None:
    config = load_config(
        {
            "cache_client_region_id": '[{"regionId":"cn-hangzhou"}]',
            "credentials_type": "ak",
            "credentials_access_key_id": "LTAIexample",
            "credentials_access_secret": "not-a-real-secret",
            "rotation_refresh_spread": value,
        },
        base_dir=tmp_path,
        environ={},
    )
    assert (config.rotation_spread_seconds, config.rotation_spread_fraction) == (seconds, fraction)


@pytest.mark.parametrize("value", ["100%", "x%", "soon"])
def test_rotation_refresh_spread_rejects_bad_values(value: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(
            {
                "cache_client_region_id": '[{"regionId":"cn-hangzhou"}]',
                "credentials_type": "ak",
                "credentials_access_key_id": "LTAIexample",
                "credentials_access_secret": "not-a-real-secret",
                "rotation_refresh_spread": value,
            },
            base_dir=tmp_path,
            environ={},
        )
    assert info.value.key == "rotation_refresh_spread"

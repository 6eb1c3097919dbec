from __future__ import annotations

import json

import pytest

from common_plugin import MalformedSecretError, ManagedCredential, SecretValue
from common_plugin.credentials import parse_duration_seconds, parse_timestamp


def _value(data: object, **kw: str) -> SecretValue:
    return SecretValue(secret_name="app", secret_data=json.dumps(data), secret_type="RAMCredentials", **kw)


def test_parses_ram_credential_and_hides_secret_from_repr() -> None:
    value = _value(
        {
            "AccessKeyId": "LTAIabcdefgh1234",
            "AccessKeySecret": "s3cr3t-value",
            "GenerateTimestamp": "2026-01-01T00:00:00Z",
        },
        version_id="v1",
        next_rotation_date="2026-01-02T00:00:00Z",
        rotation_interval="86400s",
    )
    cred = ManagedCredential.from_secret_value(value, fetched_at=5.0)
    assert cred.access_key_id == "LTAIabcdefgh1234"
    assert cred.rotation_interval_seconds == 86400
    assert cred.next_rotation_at == parse_timestamp("2026-01-02T00:00:00Z")
    assert "s3cr3t-value" not in repr(cred)
    assert "s3cr3t-value" not in repr(value)
    assert "LTAI****1234" in repr(cred)


@pytest.mark.parametrize(
    "data, secret_type",
    [
        ({"AccessKeyId": "a"}, "RAMCredentials"),
        ("not-json", "RAMCredentials"),
        ([1], "RAMCredentials"),
        ({"AccessKeyId": "a", "AccessKeySecret": "b"}, "Generic"),
    ],
)
def test_rejects_non_ram_secrets_without_echoing_value(data: object, secret_type: str) -> None:
    raw = data if isinstance(data, str) else json.dumps(data)
    value = SecretValue(secret_name="app", secret_data=raw, secret_type=secret_type)
    with pytest.raises(MalformedSecretError) as info:
        ManagedCredential.from_secret_value(value, fetched_at=0)
    assert "app" in str(info.value)
    if len(raw) > 3:  # '[1]' is too short to be told apart from ordinary text
        assert raw not in str(info.value)


def test_duration_and_timestamp_forms() -> None:
    assert parse_duration_seconds("6h") == 21600
    assert parse_duration_seconds(30) == 30
    assert parse_timestamp(1700000000000) == 1700000000.0
    assert parse_timestamp("1700000000") == 1700000000.0
    with pytest.raises(ValueError):
        parse_duration_seconds("soon")


def test_unreadable_timing_metadata_is_ignored_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    value = _value(
        {
            "AccessKeyId": "LTAIabcdefgh1234",
            "AccessKeySecret": "s3cr3t-value",
            "GenerateTimestamp": "2020-11-19 14:01:38",  # not ISO-8601
            "RefreshInterval": "soon",
        },
        rotation_interval="86400s",
    )
    with caplog.at_level("WARNING"):
        cred = ManagedCredential.from_secret_value(value, fetched_at=5.0)
    assert cred.access_key_id == "LTAIabcdefgh1234" and cred.generated_at is None
    assert cred.refresh_interval_seconds is None and cred.rotation_interval_seconds == 86400
    assert "GenerateTimestamp, RefreshInterval" in caplog.text and "2020-11-19" not in caplog.text

"""The DKMS client against the golden fixture: the bytes alibabacloud-dkms-gcs 1.0.2 sends.

``tests/fixtures/dkms_golden.json`` was written by ``tests/dkms_reference/generate_golden.py`` with
the real client (in the reference environment), from the committed client keys, a fixed date and a
fixed user agent. PKCS#1 v1.5 signatures are deterministic, so our headers, body and signature must
equal it exactly, here on the current cryptography.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from wire_capture import CaptureServer, http_response

from common_plugin.clock import ManualClock
from common_plugin.sources.dkms import DkmsSource
from common_plugin.sources.dkms_codec import encode_get_secret_value_request
from common_plugin.sources.dkms_signing import DkmsClientKey, request_headers, string_to_sign
from common_plugin.testing import protobuf_wire

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN: dict[str, Any] = json.loads((FIXTURES / "dkms_golden.json").read_text(encoding="utf-8"))


def _key_content(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("key_file", GOLDEN["key_files"])
@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda case: str(case["request"])[:40])
def test_headers_body_and_signature_equal_dkms_gcs(key_file: str, case: dict[str, Any]) -> None:
    key = DkmsClientKey.from_json(_key_content(key_file), GOLDEN["password"])
    body = encode_get_secret_value_request(**case["request"])
    assert body.hex() == case["body_hex"]

    headers = request_headers(
        key, host=GOLDEN["endpoint"], body=body, date=GOLDEN["date"], agent=GOLDEN["user_agent"]
    )

    # The client's transport saw lower-case names; its HTTP stack adds Accept-Encoding on the wire.
    assert headers[0] == ("Accept-Encoding", "identity")
    assert [[name.lower(), value] for name, value in headers[1:]] == case["headers"]
    assert string_to_sign("POST", [(n.lower(), v) for n, v in headers]) == case["string_to_sign"]


def test_the_bytes_on_the_wire_equal_dkms_gcs() -> None:
    wire = GOLDEN["wire"]
    reply = protobuf_wire.serialize(
        protobuf_wire.GET_SECRET_VALUE_RESPONSE, {"SecretName": "db-pass", "SecretData": "s3cr3t"}
    )
    with CaptureServer(lambda raw: http_response(200, reply)) as server:
        source = DkmsSource(
            region_id="cn-hangzhou",
            endpoint=server.endpoint,
            client_key_content=_key_content(GOLDEN["key_files"][0]),
            password=GOLDEN["password"],
            protocol="http",
            clock=ManualClock(GOLDEN["epoch"]),
            user_agent=GOLDEN["user_agent"],
        )
        assert wire["request"] == {
            "secret_name": "db-pass",
            "version_stage": "ACSCurrent",
            "fetch_extended_config": True,
        }
        assert source.get_secret_value("db-pass").secret_data == "s3cr3t"
    (raw,) = server.requests
    assert raw.replace(server.endpoint.encode(), b"{host}") == base64.b64decode(wire["raw_b64"])

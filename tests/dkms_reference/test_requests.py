"""Differential: dkms-gcs 1.0.2 and our client build identical GetSecretValue requests.

For random secret names (any Unicode), stages, version ids, FetchExtendedConfig flags, KeyIds,
dates and User-Agent products: the same headers in the same order, the same body and so the same
signature; and, over a loopback socket, the same bytes on the wire.
"""

from __future__ import annotations

import json
import platform
from typing import Any

from dkms_gcs import make_client, transport_request, wire_request
from golden import KEY_CONTENT, PASSWORD
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wire_capture import CaptureServer, http_response

from common_plugin.clock import ManualClock
from common_plugin.sources.dkms import DkmsSource
from common_plugin.sources.dkms_codec import encode_get_secret_value_request
from common_plugin.sources.dkms_signing import (
    DkmsClientKey,
    http_date,
    request_headers,
    string_to_sign,
    user_agent,
)
from common_plugin.sources.http_transport import HttpTransport

ENDPOINT = "kst-hzz6xxxxxxxx.cryptoservice.kms.aliyuncs.com"
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=60)
requests = st.fixed_dictionaries(
    {"secret_name": text},
    optional={
        "version_stage": st.one_of(st.sampled_from(["ACSCurrent", "ACSPrevious", "ACSPending"]), text),
        "version_id": text,
        "fetch_extended_config": st.booleans(),
    },
)
epochs = st.integers(0, 4_102_444_800)  # 1970 to 2100
key_ids = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40)
products = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=30)


def _with_key_id(key_id: str) -> str:
    document = json.loads(KEY_CONTENT)
    document["KeyId"] = key_id
    return json.dumps(document)


_OUR_KEY = DkmsClientKey.from_json(KEY_CONTENT, PASSWORD)
_THEIR_CLIENT = make_client(ENDPOINT, KEY_CONTENT, PASSWORD, user_agent="fixed/1")


def ours(fields: dict[str, Any], epoch: int, key: DkmsClientKey = _OUR_KEY, agent: str = "fixed/1") -> Any:
    body = encode_get_secret_value_request(**fields)
    headers = request_headers(key, host=ENDPOINT, body=body, date=http_date(epoch), agent=agent)
    return headers, body


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=requests, epoch=epochs)
def test_same_headers_body_and_signature(fields: dict[str, Any], epoch: int) -> None:
    their_headers, their_body, their_to_sign = transport_request(_THEIR_CLIENT, fields, epoch)
    headers, body = ours(fields, epoch)
    assert body == (their_body or b"")  # an empty body reaches its transport as None
    assert headers[0] == ("Accept-Encoding", "identity")  # added below dkms-gcs by http.client
    assert [[name.lower(), value] for name, value in headers[1:]] == their_headers
    assert string_to_sign("POST", [(n.lower(), v) for n, v in headers]) == their_to_sign


@settings(max_examples=15, deadline=None)
@given(key_id=key_ids, product=products, fields=requests)
def test_same_key_id_header_and_user_agent(key_id: str, product: str, fields: dict[str, Any]) -> None:
    content = _with_key_id(key_id)
    client = make_client(ENDPOINT, content, PASSWORD, product=product)
    their_headers, _, _ = transport_request(client, fields, 1_800_000_000)
    headers, _ = ours(fields, 1_800_000_000, DkmsClientKey.from_json(content, PASSWORD), user_agent(product))
    assert [[name.lower(), value] for name, value in headers[1:]] == their_headers
    assert dict(their_headers)["user-agent"].startswith(f"AlibabaCloud ({platform.system()}; ")


@settings(max_examples=15, deadline=None)
@given(fields=requests, epoch=epochs)
def test_same_bytes_on_the_wire(fields: dict[str, Any], epoch: int) -> None:
    host, theirs = wire_request(fields, epoch, KEY_CONTENT, PASSWORD, user_agent="fixed/1")
    with CaptureServer(lambda raw: http_response(200, b"")) as server:
        transport = HttpTransport(
            "127.0.0.1", server.port, ssl_context=None, timeout_seconds=10.0, max_response_bytes=1024
        )
        body = encode_get_secret_value_request(**fields)
        headers = request_headers(
            _OUR_KEY, host=server.endpoint, body=body, date=http_date(epoch), agent="fixed/1"
        )
        assert transport.request("POST", "/", headers, body).status == 200
    (mine,) = server.requests
    assert mine.replace(server.endpoint.encode(), host.encode()) == theirs


def test_dkms_source_sends_what_dkms_gcs_sends_for_its_request() -> None:
    fields = {"secret_name": "db/ü", "version_stage": "ACSCurrent", "fetch_extended_config": True}
    host, theirs = wire_request(fields, 1_800_000_000, KEY_CONTENT, PASSWORD, user_agent="fixed/1")
    with CaptureServer(lambda raw: http_response(200, b"")) as server:
        source = DkmsSource(
            region_id="cn-hangzhou",
            endpoint=server.endpoint,
            client_key_content=KEY_CONTENT,
            password=PASSWORD,
            protocol="http",
            clock=ManualClock(1_800_000_000),
            user_agent="fixed/1",
        )
        assert source.get_secret_value("db/ü").secret_name == "db/ü"
    (mine,) = server.requests
    assert mine.replace(server.endpoint.encode(), host.encode()) == theirs

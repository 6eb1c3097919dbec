"""Issue 13, item 4: no token in third-party logs and exceptions.

The forms are those the SDKs really produce; the emulator tests below make them with real clients:
an STS-token secret whose AccessKeySecret is wrong, so that the emulator answers
``SignatureDoesNotMatch`` with its string to sign, as the real services do.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest

from common_plugin.masking import MASK, redact_exception, redact_secrets
from common_plugin.testing.rpc_signature import SIGNATURE_MISMATCH_PREFIX, string_to_sign

# Shaped like an STS token: standard base64, so URL-encoding changes it.
TOKEN = "CAIS" + "q8X+/Zt0=Ab9/+wQ" * 6 + "=="
SECRET = "Qm9vN1hGl3S3cr3tV4lueXyZ12"
ERROR_BODY = f"<Error><StringToSign>GET\nx-oss-security-token:{TOKEN}\n/b</StringToSign></Error>".encode()


def encodings(value: str) -> list[str]:
    once = quote(value, safe="")
    escaped = value.replace("/", "\\/")  # JSON may escape slashes
    return [value, once, quote(once, safe=""), quote(value), quote(value, safe="~"), escaped]


def assert_clean(text: str) -> None:
    for form in encodings(TOKEN) + encodings(SECRET):
        assert form not in text and form[-20:] not in text  # nor the part after a first masked piece
    assert TOKEN[4:20] not in text


def rpc_string_to_sign() -> str:
    params = {
        "AccessKeyId": "STS.0123456789ABCDEF",
        "Action": "GetCallerIdentity",
        "SecurityToken": TOKEN,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "f00",
        "Timestamp": "2026-01-01T00:00:00Z",
    }
    return string_to_sign("GET", params)


FORMS = {
    "query": f"/?Action=X&SecurityToken={TOKEN}&SignatureMethod=HMAC-SHA1",
    "query, value encoded": f"/?SecurityToken={quote(TOKEN, safe='')}&SignatureNonce=1",
    "once-encoded string to sign": quote(f"Action=X&SecurityToken={TOKEN}&Version=1", safe=""),
    "twice-encoded": quote(quote(f"SecurityToken={TOKEN}&Version=1", safe=""), safe=""),
    "RPC server string to sign": SIGNATURE_MISMATCH_PREFIX + rpc_string_to_sign(),
    "JSON": f'{{"SecurityToken": "{TOKEN}", "AccessKeySecret": "{SECRET}", "Code": "OK"}}',
    "JSON, escaped in a string": f'"{{\\"SecurityToken\\":\\"{TOKEN}\\"}}"',
    "JSON, escaped slashes": '{"SecurityToken":"' + TOKEN.replace("/", "\\/") + '"}',
    "dict repr": f"{{'x-acs-security-token': '{TOKEN}', 'access_key_secret': '{SECRET}'}}",
    "oss2 header": f"'x-oss-security-token': '{TOKEN}', 'date': 'x'",
    "oss2 string to sign": f"b'PUT\\n\\n\\nTue\\nx-oss-security-token:{TOKEN}\\n/bkt/k'",
    "Tea header dump": f"\n> x-acs-security-token : {TOKEN}\n> host : sts",
    "keyword repr": f"StsToken(security_token='{TOKEN}', access_key_secret={SECRET})",
    "pre-signed OSS URL": (
        f"http://b.oss/k?OSSAccessKeyId=STS.x&Expires=1&Signature={quote('sig+/=', safe='')}"
        f"&security-token={quote(TOKEN, safe='')}"
    ),
    "XML": f"<Credentials><SecurityToken>{TOKEN}</SecurityToken><AccessKeySecret>{SECRET}</AccessKeySecret>",
    "x-oss-err header (base64 of the error body)": f"'x-oss-err': '{base64.b64encode(ERROR_BODY).decode()}'",
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_redact_secrets_every_form(form: str) -> None:
    redacted = redact_secrets(FORMS[form])
    assert_clean(redacted)
    if "base64" in form:
        run = redacted.split("'")[3]
        assert_clean(base64.b64decode(run).decode())
        assert MASK in base64.b64decode(run).decode()
    else:
        assert MASK in redacted
    if "pre-signed" in form:
        assert f"&Signature={MASK}&" in redacted  # a pre-signed URL is a bearer credential
    assert redact_secrets(redacted) == redacted  # idempotent


def test_redaction_keeps_the_shape_of_a_string_to_sign() -> None:
    redacted = redact_secrets(rpc_string_to_sign())
    assert f"SecurityToken%3D{MASK}%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3Df00" in redacted
    assert redacted.startswith("GET&%2F&AccessKeyId%3DSTS.0123456789ABCDEF%26Action%3DGetCallerIdentity")


@pytest.mark.parametrize(
    "text",
    [
        "HTTP Status: 400 Error:MissingSecurityToken SecurityToken is mandatory for this action.",
        "Error:InvalidSecurityToken.Expired Specified SecurityToken is expired.",
        "The AccessKeySecret is incorrect. Please check your AccessKeyId and AccessKeySecret.",
        "SignatureMethod=HMAC-SHA1&SignatureNonce=abc&SignatureVersion=1.0&SignatureType=",
        "{'Code': 'SignatureDoesNotMatch', 'SignatureProvided': 'abc', 'OSSAccessKeyId': 'STS.x'}",
        "Make signature: string to be signed = b'GET'",
        "x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-expires=60",
        "SecurityToken=&Version=1",
        "an ordinary base64 body: " + base64.b64encode(b"nothing to see here, just bytes" * 3).decode(),
    ],
)
def test_redaction_leaves_everything_else_alone(text: str) -> None:
    assert redact_secrets(text) == text


def test_redact_exception_keeps_type_and_codes() -> None:
    from aliyunsdkcore.acs_exception.exceptions import ServerException

    error = ServerException(
        "SignatureDoesNotMatch", SIGNATURE_MISMATCH_PREFIX + rpc_string_to_sign(), 400, "REQ-1"
    )
    cause = ValueError(f"SecurityToken={TOKEN}")
    error.__cause__ = cause
    assert redact_exception(error) is error
    assert type(error) is ServerException
    assert (error.get_error_code(), error.get_http_status(), error.get_request_id()) == (
        "SignatureDoesNotMatch",
        400,
        "REQ-1",
    )
    assert_clean(str(error))
    assert_clean(str(cause))
    assert error.get_error_msg().startswith(SIGNATURE_MISMATCH_PREFIX)


def test_redact_exception_walks_args_attributes_and_containers() -> None:
    class Nested(Exception):
        def __init__(self) -> None:
            super().__init__(500, f"security-token={TOKEN}".encode())
            self.details = {"StringToSign": f"x-oss-security-token:{TOKEN}", "Code": "X"}
            self.body = bytearray(f"<SecurityToken>{TOKEN}</SecurityToken>".encode())
            self.items = [f"AccessKeySecret={SECRET}", ("SecurityToken", f"SecurityToken:{TOKEN}")]
            self.status = 500

    error = Nested()
    details = error.details
    redact_exception(error)
    assert error.details is details and details["Code"] == "X" and error.status == 500
    assert error.args[0] == 500
    assert_clean(repr(error.args) + repr(vars(error)))

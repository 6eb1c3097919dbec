"""Issue 13, item 4: no token in third-party logs and exceptions.

The forms are those the SDKs really produce; the emulator tests below make them with real clients:
an STS-token secret whose AccessKeySecret is wrong, so that the emulator answers
``SignatureDoesNotMatch`` with its string to sign, as the real services do.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from urllib.parse import quote

import alibabacloud_oss_v2 as oss
import oss2
import pytest
from alibabacloud_tea_openapi.exceptions import ClientException as TeaClientException
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest

from common_plugin.adapters.tea import TeaCredentialsProvider, call_with_refresh, call_with_refresh_async
from common_plugin.masking import MASK, redact_exception, redact_secrets
from common_plugin.provider import CredentialsProvider
from common_plugin.testing import LocalAliyun
from common_plugin.testing.rpc_signature import SIGNATURE_MISMATCH_PREFIX, string_to_sign
from oss_plugin import ProxyBucket, ProxyService
from oss_plugin.v2 import configure
from sdk_core_plugin.proxy_acs_client import ProxyAcsClient

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


# -- through the real clients, against the emulator -------------------------------------------------

NAME = "sts-app-key"
BUCKET = "bkt"
WRONG_SECRET = "not-the-secret-of-this-key-0000"  # noqa: S105 - what makes the signature mismatch


@pytest.fixture
def mismatch(local_aliyun: LocalAliyun) -> LocalAliyun:
    """An STS-token secret whose AccessKeySecret is wrong: every request it signs is answered
    ``SignatureDoesNotMatch`` with the server's string to sign, token included."""
    local_aliyun.create_ram_secret(NAME, with_sts_token=True, extra_data={"AccessKeySecret": WRONG_SECRET})
    local_aliyun.create_bucket(BUCKET)
    return local_aliyun


def issued_token(cloud: LocalAliyun, name: str = NAME) -> str:
    token = cloud.current_key(name).security_token
    assert token is not None
    return token


def assert_no_token(token: str, *texts: str | bytes) -> None:
    """No form of ``token`` in any of ``texts``; a failure names the text's position, never the text."""
    __tracebackhide__ = True
    forms = encodings(token)
    leaked = [
        index
        for index, text in enumerate(texts)
        if any(form in (text.decode("latin-1") if isinstance(text, bytes) else text) for form in forms)
    ]
    assert not leaked, f"the token is in text(s) {leaked}"


def assert_contains(text: str | bytes, part: str, what: str) -> None:
    """``part`` is in ``text``, a text that would hold a token if redaction failed: a failure says
    ``what``, never the text (pytest would show the arguments of a call inside the assert, and
    this frame's arguments in the traceback, which ``__tracebackhide__`` leaves out)."""
    __tracebackhide__ = True
    found = (part.encode() if isinstance(text, bytes) else part) in text
    assert found, what


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    return caplog.text + "\n".join(record.getMessage() for record in caplog.records)


def sts_request(cloud: LocalAliyun) -> CommonRequest:
    request = CommonRequest(
        domain=cloud.rpc_endpoint, version="2015-04-01", action_name="GetCallerIdentity", product="Sts"
    )
    request.set_protocol_type("http")
    return request


def test_acs_client_signature_mismatch_logs_no_token(
    mismatch: LocalAliyun, caplog: pytest.LogCaptureFixture
) -> None:
    import common_plugin.sources  # noqa: F401 - installs the SDK log filters, as every plugin does

    key = mismatch.current_key(NAME)
    caplog.set_level(logging.DEBUG)
    client = AcsClient(credential=StsTokenCredential(key.access_key_id, WRONG_SECRET, issued_token(mismatch)))
    with pytest.raises(ServerException) as info:
        client.do_action_with_exception(sts_request(mismatch))
    assert info.value.get_error_code() == "SignatureDoesNotMatch"
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    logged = any("SignatureDoesNotMatch" in m and f"SecurityToken%3D{MASK}%26" in m for m in errors)
    assert logged, "the ERROR line with the redacted string to sign"
    assert_no_token(issued_token(mismatch), log_text(caplog))
    # A plain AcsClient's exception is not ours to change (the guard reads it when the test ends).
    redact_exception(info.value)


def test_proxy_acs_client_signature_mismatch_no_token_in_logs_or_exception(
    mismatch: LocalAliyun,
    make_provider: Callable[..., CredentialsProvider],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = ProxyAcsClient(NAME, provider=make_provider(mismatch))
    request = sts_request(mismatch)
    with pytest.raises(ServerException) as info:
        client.do_action_with_exception(request)
    error = info.value
    assert type(error) is ServerException
    assert (error.get_error_code(), error.get_http_status()) == ("SignatureDoesNotMatch", 400)
    assert error.get_request_id()
    message = error.get_error_msg()
    assert_contains(message, SIGNATURE_MISMATCH_PREFIX + "GET&", "the server's string to sign")
    assert_contains(message, f"SecurityToken%3D{MASK}%26", "the token redacted in it")
    token = issued_token(mismatch)
    assert_no_token(token, str(error), repr(vars(error)), log_text(caplog))
    # the status/headers/body/exception tuple of the hook is redacted too
    status, _headers, _body, returned = client._implementation_of_do_action(sts_request(mismatch))
    assert (status, type(returned)) == (400, ServerException)
    assert_no_token(token, str(returned))


@pytest.mark.parametrize("client_class", [ProxyBucket, ProxyService])
def test_oss2_signature_mismatch_no_token_in_logs_or_exception(
    mismatch: LocalAliyun,
    make_provider: Callable[..., CredentialsProvider],
    caplog: pytest.LogCaptureFixture,
    client_class: type,
) -> None:
    caplog.set_level(logging.DEBUG)
    assert mismatch.oss_endpoint is not None
    if client_class is ProxyBucket:
        client = ProxyBucket(NAME, mismatch.oss_endpoint, BUCKET, provider=make_provider(mismatch))
        call: Callable[[], object] = lambda: client.put_object("k", b"x")  # noqa: E731
    else:
        client = ProxyService(NAME, mismatch.oss_endpoint, provider=make_provider(mismatch))
        call = client.list_buckets
    with pytest.raises(oss2.exceptions.SignatureDoesNotMatch) as info:
        call()
    error = info.value
    assert type(error) is oss2.exceptions.SignatureDoesNotMatch
    assert (error.status, error.code, error.ec) == (403, "SignatureDoesNotMatch", "0002-00000040")
    assert error.request_id and error.details["Code"] == "SignatureDoesNotMatch"
    assert_contains(error.details["StringToSign"], f"x-oss-security-token:{MASK}", "token redacted")
    error_header = base64.b64decode(error.headers["x-oss-err"])
    assert_contains(error_header, "<Code>SignatureDoesNotMatch</Code>", "x-oss-err is still the body")
    token = issued_token(mismatch)
    assert_no_token(
        token, str(error), repr(error), error.body, repr(error.details), error_header, log_text(caplog)
    )
    logged_headers = [r.getMessage() for r in caplog.records if "'x-oss-err': '" in r.getMessage()]
    assert logged_headers, "oss2 logs the response headers at DEBUG"
    logged_bodies = [base64.b64decode(m.split("'x-oss-err': '")[1].split("'")[0]) for m in logged_headers]
    assert_no_token(token, *logged_bodies)
    client.shutdown()


def test_oss_v2_retryer_redacts_each_failed_attempts_error(
    mismatch: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    # The v2 SDK signs v4 (a hash of the canonical request in the string to sign, so the emulator's
    # answer echoes no token) and its v1 signer sends the token in a header the emulator refuses.
    # The retryer is where each failed attempt's error passes our code: here the SDK's own
    # ServiceError, as it builds it from a v1 SignatureDoesNotMatch body.
    token = issued_token(mismatch)
    body = (
        f"<Error><Code>SignatureDoesNotMatch</Code><StringToSign>PUT\n\n\nDate\n"
        f"x-oss-security-token:{token}\n/bkt/a</StringToSign><EC>0002-00000040</EC></Error>"
    ).encode()
    error = oss.exceptions.ServiceError(
        status_code=403,
        code="SignatureDoesNotMatch",
        message="The request signature we calculated does not match the signature you provided.",
        request_id="R-1",
        ec="0002-00000040",
        timestamp=None,
        request_target="PUT http://127.0.0.1/bkt/a",
        snapshot=body,
        headers={"x-oss-request-id": "R-1", "x-oss-err": base64.b64encode(body).decode()},
    )
    config = configure(oss.config.load_default(), make_provider(mismatch), NAME)
    assert config.retryer.is_error_retryable(error) is False  # not a rejected key: no retry
    assert (type(error), error.status_code, error.code, error.ec, error.request_id) == (
        oss.exceptions.ServiceError,
        403,
        "SignatureDoesNotMatch",
        "0002-00000040",
        "R-1",
    )
    assert_contains(error.snapshot, f"x-oss-security-token:{MASK}", "the string to sign, token redacted")
    assert_no_token(
        token,
        str(error),
        error.snapshot,
        repr(vars(error)),
        base64.b64decode(error.headers["x-oss-err"]),
    )


def test_tea_call_with_refresh_redacts_the_error_it_raises(
    mismatch: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    # ACS3 signs a hash of the canonical request, so the emulator's Tea answers never echo a token;
    # an RPC-style gateway does. The error is the Tea SDK's own class, raised by the call we wrap.
    credentials = TeaCredentialsProvider(make_provider(mismatch), NAME)
    token = issued_token(mismatch)
    server_message = SIGNATURE_MISMATCH_PREFIX + string_to_sign("GET", {"SecurityToken": token})

    def call() -> None:
        raise TeaClientException(
            status_code=400,
            code="SignatureDoesNotMatch",
            message=f"code: 400, {server_message} request id: R-1",
            request_id="R-1",
            data={"Code": "SignatureDoesNotMatch", "Message": server_message, "statusCode": 400},
        )

    with pytest.raises(TeaClientException) as info:
        call_with_refresh(credentials, call)
    error = info.value
    assert (type(error), error.code, error.status_code, error.request_id) == (
        TeaClientException,
        "SignatureDoesNotMatch",
        400,
        "R-1",
    )
    assert_contains(error.message, f"SecurityToken%3D{MASK}", "the server's message, token redacted")
    assert_no_token(token, str(error), repr(vars(error)))

    async def async_call() -> None:
        call()

    with pytest.raises(TeaClientException) as async_info:
        asyncio.run(call_with_refresh_async(credentials, async_call))
    assert_no_token(token, repr(vars(async_info.value)))


@pytest.mark.parametrize("outcome", ["success", "SignatureDoesNotMatch"])
def test_proxy_acs_client_leaves_no_token_in_the_callers_request(
    local_aliyun: LocalAliyun, make_provider: Callable[..., CredentialsProvider], outcome: str
) -> None:
    extra = {"AccessKeySecret": WRONG_SECRET} if outcome != "success" else None
    local_aliyun.create_ram_secret(NAME, with_sts_token=True, extra_data=extra)
    client = ProxyAcsClient(NAME, provider=make_provider(local_aliyun))
    request = sts_request(local_aliyun)
    for _ in range(2):  # the same request object, sent twice, as a caller may
        if outcome == "success":
            client.do_action_with_exception(request)
        else:
            with pytest.raises(ServerException):
                client.do_action_with_exception(request)
        left = "SecurityToken" in request.get_query_params()
        assert not left, "the signer's SecurityToken is still in the caller's request"
        assert_no_token(issued_token(local_aliyun), repr(vars(request)), repr(vars(request.request)))
    key_id = local_aliyun.current_key(NAME).access_key_id
    # Both calls were signed with the token (the emulator refuses an STS key without it).
    assert local_aliyun.count("rpc", "GetCallerIdentity", key_id) == 2


def test_proxy_acs_client_restores_a_token_the_caller_set(
    local_aliyun: LocalAliyun, make_provider: Callable[..., CredentialsProvider]
) -> None:
    local_aliyun.create_ram_secret(NAME, with_sts_token=True)
    client = ProxyAcsClient(NAME, provider=make_provider(local_aliyun))
    request = sts_request(local_aliyun)
    request.add_query_param("SecurityToken", "the-callers-own")
    client.do_action_with_exception(request)  # signed with the managed token, which replaced it
    restored = request.get_query_params().get("SecurityToken") == "the-callers-own"
    assert restored, "the caller's own SecurityToken parameter is back"

"""Server side of the OpenAPI RPC v1 (HMAC-SHA1) signature, and the base of every RPC-style service.

The string to sign is rebuilt exactly as ``aliyunsdkcore``'s ``rpc_signature_composer`` builds it
(docs/protocols.md section 1)::

    METHOD & %2F & enc( "&".join(enc(k) + "=" + enc(v) for k, v in sorted(params)) )

and checked with the HMAC-SHA1 of ``AccessKeySecret + "&"``. Requests a Tea (V2 SDK) client signs with
``ACS3-HMAC-SHA256`` are verified by :mod:`.acs3_signature` against the same keys. A mismatch answers
the real message form
``Specified signature is not matched with our calculation. server string to sign is:<sts>``, so that
``AcsClient`` compares the part after the ``:`` with its own string to sign and, when only the secret
was wrong, rewrites the code to ``InvalidAccessKeySecret``.

The signature scheme fields are checked as the gateway documents them (:func:`check_signature_scheme`):
``SignatureMethod=HMAC-SHA1`` (or ``SHA256withRSA`` with ``SignatureType=PRIVATEKEY`` for client keys),
``SignatureVersion=1.0``, a ``Timestamp`` of the form ``%Y-%m-%dT%H:%M:%SZ`` and a non-empty
``SignatureNonce``. Neither the timestamp window nor nonce reuse is checked: tests run on a manual
clock and replay requests on purpose.

Thread-safety: stateless functions; :class:`RpcServiceBase` keeps no per-request state, so its
``handle`` may run on many threads at once.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import logging
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256

from .state import AccessKey, CloudState
from .wire import HttpRequest

__all__ = [
    "RpcError",
    "authenticate",
    "check_key",
    "check_security_token",
    "check_signature_scheme",
    "compute_signature",
    "percent_encode",
    "request_parameters",
    "string_to_sign",
]

_LOGGER = logging.getLogger(__name__)

SIGNATURE_MISMATCH_PREFIX = (
    "Specified signature is not matched with our calculation. server string to sign is:"
)

HMAC_SHA1 = "HMAC-SHA1"
RSA_SHA256 = "SHA256withRSA"  # aliyunsdkcore.auth.algorithm.sha_hmac256 (client keys)
SIGNATURE_VERSION = "1.0"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# strptime alone accepts "2024-1-5T1:2:3Z"; the SDK always zero-pads (helper.get_iso_8061_date).
_TIMESTAMP_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


class RpcError(Exception):
    """An error reply an RPC service sends. ``str()`` is the code only: messages may echo the request."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as the SDK does it: space ``%20``, ``*`` ``%2A``, ``/`` ``%2F``, ``~`` kept."""
    return quote(value, safe="~")


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    """The RPC v1 string to sign for ``params`` (``Signature`` itself excluded)."""
    canonical = "&".join(
        f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()) if k != "Signature"
    )
    return f"{method.upper()}&%2F&{percent_encode(canonical)}"


def compute_signature(access_key_secret: str, sts: str) -> str:
    """base64(HMAC-SHA1(secret + "&", sts))."""
    digest = hmac.new((access_key_secret + "&").encode(), sts.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def request_parameters(request: HttpRequest) -> dict[str, str]:
    """Query parameters plus form-body parameters (both are signed), blank values kept."""
    params = request.query
    if request.body and "x-www-form-urlencoded" in request.header("content-type"):
        params.update(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def check_key(state: CloudState, access_key_id: str) -> AccessKey:
    """The existing, active key ``access_key_id`` (shared by the v1 and ACS3 verifiers).

    Raises:
        RpcError: ``InvalidAccessKeyId.NotFound`` (404) or ``InvalidAccessKeyId.Inactive`` (400).
    """
    key = state.lookup_key(access_key_id)
    if key is None:
        raise RpcError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
    if key.status != "Active":
        raise RpcError(400, "InvalidAccessKeyId.Inactive", "Specified access key is disabled.")
    return key


def check_security_token(state: CloudState, key: AccessKey, token: str) -> None:
    """Check the STS token sent with ``key`` (shared by the v1 and ACS3 verifiers).

    An STS key needs its own, unexpired token; a permanent key must come without one.

    Raises:
        RpcError: ``MissingSecurityToken``, ``InvalidSecurityToken.MismatchWithAccessKey`` or
            ``InvalidSecurityToken.Expired`` (400).
    """
    if key.security_token is None:
        # A permanent key has no token: one sent with it is refused as the gateway does (the OSS
        # half answers the same case with 403 InvalidSecurityToken).
        if token:
            raise RpcError(
                400,
                "InvalidSecurityToken.MismatchWithAccessKey",
                "Specified SecurityToken mismatch with the AccessKey.",
            )
        return
    if not token:
        raise RpcError(400, "MissingSecurityToken", "SecurityToken is mandatory for this action.")
    if not hmac.compare_digest(token, key.security_token):
        raise RpcError(
            400,
            "InvalidSecurityToken.MismatchWithAccessKey",
            "Specified SecurityToken mismatch with the AccessKey.",
        )
    if key.token_expires_at is not None and state.clock.time() >= key.token_expires_at:
        raise RpcError(400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired.")


def authenticate(state: CloudState, method: str, params: Mapping[str, str]) -> AccessKey:
    """Check the caller's key, signature and STS token against ``state``; return the key.

    Raises:
        RpcError: ``InvalidAccessKeyId.NotFound`` (404), or (400) one of :func:`check_signature_scheme`'s
            codes, ``InvalidAccessKeyId.Inactive``, ``SignatureDoesNotMatch``, ``MissingSecurityToken``,
            ``InvalidSecurityToken.MismatchWithAccessKey`` or ``InvalidSecurityToken.Expired``.
    """
    access_key_id = params.get("AccessKeyId", "")
    if not access_key_id:
        raise RpcError(400, "MissingAccessKeyId", "AccessKeyId is mandatory for this action.")
    if not params.get("Signature"):
        raise RpcError(400, "MissingSignature", "Signature is mandatory for this action.")
    check_signature_scheme(params)
    sts = string_to_sign(method, params)
    if params.get("SignatureMethod") == RSA_SHA256:
        return _authenticate_client_key(state, access_key_id, sts, params["Signature"])
    key = check_key(state, access_key_id)
    if not hmac.compare_digest(compute_signature(key.access_key_secret, sts), params["Signature"]):
        raise RpcError(400, "SignatureDoesNotMatch", SIGNATURE_MISMATCH_PREFIX + sts)
    check_security_token(state, key, params.get("SecurityToken", ""))
    return key


def check_signature_scheme(params: Mapping[str, str]) -> None:
    """Check the RPC v1 common signature parameters, but not the time window or nonce reuse.

    The codes and messages are those of the OpenAPI gateway's common error codes (Alibaba Cloud
    "common error codes" tables: ``IncompleteSignature`` "The request signature does not conform to
    Aliyun standards.", ``InvalidTimeStamp.Format`` "Specified time stamp or date value is not well
    formatted."); our protocol notes list none of them. A missing ``Timestamp`` / ``SignatureNonce``
    is answered in the ``Missing<Parameter>`` / "<Parameter> is mandatory for this action." form the
    gateway uses for ``MissingSecurityToken`` (and this module for ``AccessKeyId`` / ``Signature``).

    Raises:
        RpcError: 400 ``IncompleteSignature`` (unsupported or missing ``SignatureMethod`` /
            ``SignatureVersion``, or ``SHA256withRSA`` without ``SignatureType=PRIVATEKEY``),
            ``MissingTimestamp``, ``InvalidTimeStamp.Format`` or ``MissingSignatureNonce``.
    """
    method = params.get("SignatureMethod", "")
    if method not in (HMAC_SHA1, RSA_SHA256):
        raise RpcError(
            400,
            "IncompleteSignature",
            f"The request signature does not conform to Aliyun standards. SignatureMethod must be "
            f"{HMAC_SHA1} or {RSA_SHA256}.",
        )
    if method == RSA_SHA256 and params.get("SignatureType") != "PRIVATEKEY":
        raise RpcError(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards. "
            f"SignatureMethod {RSA_SHA256} needs SignatureType PRIVATEKEY.",
        )
    if params.get("SignatureVersion") != SIGNATURE_VERSION:
        raise RpcError(
            400,
            "IncompleteSignature",
            f"The request signature does not conform to Aliyun standards. SignatureVersion must be "
            f"{SIGNATURE_VERSION}.",
        )
    timestamp = params.get("Timestamp", "")
    if not timestamp:
        raise RpcError(400, "MissingTimestamp", "Timestamp is mandatory for this action.")
    if not _well_formed_timestamp(timestamp):
        raise RpcError(
            400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted."
        )
    if not params.get("SignatureNonce", "").strip():
        raise RpcError(400, "MissingSignatureNonce", "SignatureNonce is mandatory for this action.")


def _well_formed_timestamp(value: str) -> bool:
    """``%Y-%m-%dT%H:%M:%SZ``, zero-padded and a real date (the window is not checked)."""
    if not _TIMESTAMP_SHAPE.fullmatch(value):
        return False
    try:
        datetime.datetime.strptime(value, TIMESTAMP_FORMAT)
    except ValueError:
        return False
    return True


def _authenticate_client_key(state: CloudState, key_id: str, sts: str, signature: str) -> AccessKey:
    """A request signed SHA256withRSA with a client key (``credentials_type=client_key``)."""
    public_key = state.client_public_key(key_id)
    if public_key is None:
        raise RpcError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
    try:
        public_key.verify(base64.b64decode(signature), sts.encode("utf-8"), PKCS1v15(), SHA256())
    except (InvalidSignature, ValueError):
        raise RpcError(400, "SignatureDoesNotMatch", SIGNATURE_MISMATCH_PREFIX + sts) from None
    return AccessKey(access_key_id=key_id, access_key_secret="")  # noqa: S106 - a client key has none

"""Server side of the OpenAPI V3 signature (``ACS3-HMAC-SHA256``) that Tea / ``alibabacloud_*`` clients send.

The client (``alibabacloud_tea_openapi.utils.Utils.get_authorization``, checked against
alibabacloud-tea-openapi 0.4.6) signs::

    Authorization: ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<h1;h2;...>,Signature=<hex>

    CanonicalRequest = METHOD \\n URI \\n CanonicalQuery \\n CanonicalHeaders \\n SignedHeaders
                       \\n HashedPayload
    StringToSign     = "ACS3-HMAC-SHA256" \\n hex(sha256(CanonicalRequest))
    Signature        = hex(HMAC-SHA256(AccessKeySecret, StringToSign))

* ``URI`` is the request path (``/`` for RPC-style APIs);
* ``CanonicalQuery``: the query parameters sorted by name, ``name=enc(value)`` joined by ``&``, where
  ``enc`` is RFC 3986 percent-encoding (``~`` kept);
* ``CanonicalHeaders``: each header named in ``SignedHeaders`` (lower-case, sorted), ``name:value\\n``
  with the value trimmed; the client signs every header it set, including ``host``, ``x-acs-date``,
  ``x-acs-content-sha256``, ``x-acs-action``, ``x-acs-version`` and, for STS keys,
  ``x-acs-security-token``;
* ``HashedPayload`` is the ``x-acs-content-sha256`` header, which must equal ``hex(sha256(body))``.

The action is the ``x-acs-action`` header and the STS token (if any) the ``x-acs-security-token``
header. Key, status and token are checked by the same rules as RPC v1 (:func:`.rpc_signature.check_key`,
:func:`.rpc_signature.check_security_token`), so a rotated and revoked key is refused with
``InvalidAccessKeyId.NotFound``. As for v1, neither the date window nor nonce reuse is checked.

Pure functions; thread-safe.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from . import rpc_signature as _rpc
from .state import AccessKey, CloudState
from .wire import HttpRequest

__all__ = [
    "ACS3_ALGORITHM",
    "Acs3Authorization",
    "acs3_signature",
    "authenticate_acs3",
    "canonical_request",
    "is_acs3",
    "parse_acs3_authorization",
]

ACS3_ALGORITHM = "ACS3-HMAC-SHA256"
_PATTERN = re.compile(
    r"^ACS3-HMAC-SHA256\s+Credential=(?P<ak>[^,\s]+)\s*,\s*SignedHeaders=(?P<signed>[^,\s]*)\s*,"
    r"\s*Signature=(?P<sig>[0-9a-fA-F]+)\s*$"
)
_REQUIRED_SIGNED = ("host", "x-acs-content-sha256", "x-acs-date")


@dataclass(frozen=True)
class Acs3Authorization:
    """The parts of an ``ACS3-HMAC-SHA256`` ``Authorization`` header."""

    access_key_id: str
    signed_headers: tuple[str, ...]
    signature: str


def is_acs3(request: HttpRequest) -> bool:
    """Whether ``request`` carries a V3 (``ACS3-...``) ``Authorization`` header."""
    return request.header("authorization").startswith("ACS3-")


def parse_acs3_authorization(value: str) -> Acs3Authorization | None:
    """Split an ``ACS3-HMAC-SHA256 Credential=...,SignedHeaders=...,Signature=...`` header."""
    match = _PATTERN.match(value.strip())
    if match is None:
        return None
    signed = tuple(h for h in match["signed"].lower().split(";") if h)
    return Acs3Authorization(match["ak"], signed, match["sig"].lower())


def canonical_request(request: HttpRequest, signed_headers: tuple[str, ...]) -> str:
    """The V3 canonical request rebuilt from what was received."""
    query: Mapping[str, str] = request.query
    canonical_query = "&".join(
        f"{_rpc.percent_encode(k)}={_rpc.percent_encode(v)}" for k, v in sorted(query.items())
    )
    names = sorted(signed_headers)
    canonical_headers = "".join(f"{name}:{request.header(name).strip()}\n" for name in names)
    return "\n".join(
        [
            request.method.upper(),
            request.path or "/",
            canonical_query,
            canonical_headers,
            ";".join(names),
            request.header("x-acs-content-sha256"),
        ]
    )


def acs3_signature(secret: str, canonical: str) -> tuple[str, str]:
    """The string to sign for ``canonical`` and its hex HMAC-SHA256 under ``secret``."""
    string_to_sign = f"{ACS3_ALGORITHM}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
    signature = hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return string_to_sign, signature


def authenticate_acs3(state: CloudState, request: HttpRequest) -> AccessKey:
    """Check a V3-signed request's key, payload hash, signature and STS token; return the key.

    Raises:
        RpcError: ``IncompleteSignature`` / ``MissingAuthorization`` (400) for a malformed header,
            ``InvalidAccessKeyId.NotFound`` (404), ``InvalidAccessKeyId.Inactive``,
            ``SignatureDoesNotMatch``, ``MissingSecurityToken``,
            ``InvalidSecurityToken.MismatchWithAccessKey`` or ``InvalidSecurityToken.Expired`` (400).
    """
    auth = parse_acs3_authorization(request.header("authorization"))
    if auth is None:
        raise _rpc.RpcError(
            400, "IncompleteSignature", "The request signature does not conform to Aliyun standards."
        )
    missing = [h for h in _REQUIRED_SIGNED if h not in auth.signed_headers]
    unsigned = [h for h in request.headers if h.startswith("x-acs-") and h not in auth.signed_headers]
    if missing or unsigned:
        raise _rpc.RpcError(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards: "
            f"headers {sorted(missing + unsigned)} must be signed.",
        )
    key = _rpc.check_key(state, auth.access_key_id)
    body_hash = hashlib.sha256(request.body).hexdigest()
    if not hmac.compare_digest(body_hash, request.header("x-acs-content-sha256").lower()):
        raise _rpc.RpcError(
            400, "InvalidContentSha256", "The x-acs-content-sha256 header does not match the body."
        )
    string_to_sign, expected = acs3_signature(
        key.access_key_secret, canonical_request(request, auth.signed_headers)
    )
    if not hmac.compare_digest(expected, auth.signature):
        raise _rpc.RpcError(400, "SignatureDoesNotMatch", _rpc.SIGNATURE_MISMATCH_PREFIX + string_to_sign)
    _rpc.check_security_token(state, key, request.header("x-acs-security-token"))
    return key

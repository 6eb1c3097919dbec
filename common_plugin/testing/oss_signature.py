"""OSS request signatures, rebuilt on the server side: v1 (HMAC-SHA1) and v4 (OSS4-HMAC-SHA256).

Mirrors the canonicalisation of ``oss2/auth.py`` 2.19.1 (``ProviderAuth`` and ``ProviderAuthV4``; see
docs/protocols.md section 3). Pure functions; thread-safe.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from .wire import HttpRequest

__all__ = [
    "SUBRESOURCES",
    "V4_PRODUCT",
    "V4_TERMINATOR",
    "ParsedAuthorization",
    "crc64_ecma",
    "parse_authorization",
    "v1_signature",
    "v1_string_to_sign",
    "v4_scope_error",
    "v4_signature",
]

# The query parameters oss2's ProviderAuth signs in v1's CanonicalizedResource.
SUBRESOURCES = frozenset(
    """
    response-content-type response-content-language response-cache-control logging
    response-content-encoding acl uploadId uploads partNumber group link delete website location
    objectInfo objectMeta response-expires response-content-disposition cors lifecycle restore qos
    referer stat bucketInfo append position security-token live comp status vod startTime endTime
    x-oss-process symlink callback callback-var tagging encryption versions versioning versionId policy
    requestPayment x-oss-traffic-limit qosInfo asyncFetch x-oss-request-payer sequential inventory
    inventoryId continuation-token worm wormId wormExtend replication replicationLocation
    replicationProgress transferAcceleration cname metaQuery x-oss-ac-source-ip x-oss-ac-subnet-mask
    x-oss-ac-vpc-id x-oss-ac-forward-allow resourceGroup style styleName x-oss-async-process regionList
    x-oss-write-get-object-response bucketArchiveDirectRead httpsConfig redundancyTransition
    x-oss-target-redundancy-type x-oss-redundancy-transition-taskid accessPoint accessPointPolicy
    publicAccessBlock x-oss-access-point-name requesterQosInfo qosRequester resourcePoolInfo resourcePool
    resourcePoolBuckets
    """.split()
)

_V4_DEFAULT_SIGNED = ("content-type", "content-md5")
_V4_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-~.")
V4_TERMINATOR = "aliyun_v4_request"
V4_PRODUCT = "oss"
_V4_PATTERN = re.compile(
    r"OSS4-HMAC-SHA256 Credential=(?P<ak>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]*)/(?P<product>[^/,\s]+)"
    r"/(?P<terminator>[^/,\s]+),\s*Signature=(?P<sig>[0-9a-fA-F]+)"
    r"(?:,\s*AdditionalHeaders=(?P<extra>[^,\s]*))?\s*$"
)


@dataclass(frozen=True)
class ParsedAuthorization:
    """The parts of an ``Authorization`` header; ``version`` is 1 or 4."""

    version: int
    access_key_id: str
    signature: str
    date: str = ""
    region: str = ""
    product: str = ""
    additional_headers: tuple[str, ...] = ()
    terminator: str = ""


def parse_authorization(value: str) -> ParsedAuthorization | None:
    """Split ``OSS <ak>:<sig>`` or an ``OSS4-HMAC-SHA256 ...`` header; ``None`` if neither."""
    if value.startswith("OSS "):
        access_key_id, sep, signature = value[4:].rpartition(":")
        return ParsedAuthorization(1, access_key_id.strip(), signature.strip()) if sep else None
    match = _V4_PATTERN.match(value)
    if match is None:
        return None
    extra = tuple(h for h in (match["extra"] or "").split(";") if h)
    return ParsedAuthorization(
        version=4,
        access_key_id=match["ak"],
        signature=match["sig"],
        date=match["date"],
        region=match["region"],
        product=match["product"],
        additional_headers=extra,
        terminator=match["terminator"],
    )


def v1_string_to_sign(request: HttpRequest, bucket: str, key: str) -> bytes:
    """VERB, Content-MD5, Content-Type, Date, x-oss-* headers and the resource, as oss2 signs them."""
    headers = request.headers
    oss_headers = "".join(f"{k}:{headers[k]}\n" for k in sorted(headers) if k.startswith("x-oss-"))
    resource = f"/{bucket}/{key}" if bucket else "/"
    params = sorted((k, v) for k, v in request.query.items() if k in SUBRESOURCES)
    if params:
        resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in params)
    date = headers.get("x-oss-date", "") or headers.get("date", "")
    fields = [request.method, headers.get("content-md5", ""), headers.get("content-type", ""), date]
    return ("\n".join(fields) + "\n" + oss_headers + resource).encode("utf-8")


def v1_signature(secret: str, string_to_sign: bytes) -> str:
    """base64(HMAC-SHA1(secret, string_to_sign))."""
    digest = hmac.new(secret.encode("utf-8"), string_to_sign, hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _v4_encode(text: str, keep_slash: bool) -> str:
    return "".join(
        chr(b) if b in _V4_UNRESERVED or (keep_slash and b == ord("/")) else f"%{b:02X}"
        for b in text.encode("utf-8")
    )


def v4_scope_error(request: HttpRequest, auth: ParsedAuthorization, region: str) -> str | None:
    """Why a v4 credential scope does not fit this endpoint, or ``None`` when it does.

    The scope ``<date>/<region>/oss/aliyun_v4_request`` must name the endpoint's ``region``, the
    product ``oss``, the terminator ``aliyun_v4_request``, and the date part of ``x-oss-date``. A
    client computes its signing key from its own scope, so without this check any scope would verify.
    """
    if auth.terminator != V4_TERMINATOR:
        return f"The credential scope must end with {V4_TERMINATOR}, not {auth.terminator}."
    if auth.product != V4_PRODUCT:
        return f"The credential scope product must be {V4_PRODUCT}, not {auth.product}."
    if auth.region != region:
        return f"The credential scope region {auth.region} does not match the endpoint region {region}."
    signed_date = request.headers.get("x-oss-date", "")[:8]
    if auth.date != signed_date:
        return f"The credential scope date {auth.date} does not match x-oss-date {signed_date or '(none)'}."
    return None


def v4_signature(
    request: HttpRequest, bucket: str, key: str, auth: ParsedAuthorization, secret: str
) -> tuple[str, str]:
    """The v4 string to sign and its hex signature, rebuilt as oss2's ``ProviderAuthV4`` does."""
    extra = {h.lower() for h in auth.additional_headers}
    signed = sorted(
        (k, v)
        for k, v in request.headers.items()
        if k.startswith("x-oss-") or k in _V4_DEFAULT_SIGNED or k in extra
    )
    query = sorted((_v4_encode(k, False), _v4_encode(v, False)) for k, v in request.query.items())
    canonical = "\n".join(
        [
            request.method,
            _v4_encode(f"/{bucket}/{key}" if bucket else "/", True),
            "&".join(f"{k}={v}" if v else k for k, v in query),
            "".join(f"{k}:{v}\n" for k, v in signed),
            ";".join(sorted(extra)),
            request.headers.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD"),
        ]
    )
    scope = f"{auth.date}/{auth.region}/{auth.product}/{auth.terminator or V4_TERMINATOR}"
    string_to_sign = "\n".join(
        [
            "OSS4-HMAC-SHA256",
            request.headers.get("x-oss-date", ""),
            scope,
            hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        ]
    )
    signing_key = ("aliyun_v4" + secret).encode("utf-8")
    for part in (auth.date, auth.region, auth.product, auth.terminator or V4_TERMINATOR):
        signing_key = hmac.new(signing_key, part.encode("utf-8"), hashlib.sha256).digest()
    signature = hmac.new(signing_key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return string_to_sign, signature


def _crc64_table() -> tuple[int, ...]:
    poly = 0xC96C5795D7870F42  # ECMA-182, bit-reversed
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC64_TABLE = _crc64_table()
_MASK64 = 0xFFFFFFFFFFFFFFFF


def crc64_ecma(data: bytes, crc: int = 0) -> int:
    """CRC-64/XZ (the ``x-oss-hash-crc64ecma`` value), continuing from ``crc``; as ``oss2.utils.Crc64``."""
    register = crc ^ _MASK64
    table = _CRC64_TABLE
    for byte in data:
        register = table[(register ^ byte) & 0xFF] ^ (register >> 8)
    return register ^ _MASK64

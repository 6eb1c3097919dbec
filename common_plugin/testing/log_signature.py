"""Log Service request signatures, rebuilt on the server side from the spec: v1 and v4.

v1 (``Authorization: LOG <AccessKeyId>:<signature>``)::

    signature = base64(HMAC-SHA1(secret, VERB "\\n" Content-MD5 "\\n" Content-Type "\\n" Date "\\n"
                                 CanonicalizedLOGHeaders CanonicalizedResource))

``CanonicalizedLOGHeaders`` are the ``x-log-*`` and ``x-acs-*`` headers, sorted by name, each
``name:value\\n``, without ``x-log-meta-*`` and without ``x-log-date`` (a copy of ``Date`` the client
adds after signing, for proxies that drop ``Date``). ``CanonicalizedResource`` is the path (without
the project, which travels in the ``Host``) plus, when there are query parameters,
``?k1=v1&k2=v2`` sorted by name, the values *not* percent-encoded.

v4 (``Authorization: SLS4-HMAC-SHA256 Credential=<id>/<yyyymmdd>/<region>/sls/aliyun_v4_request,
Signature=<hex>``): HMAC-SHA256 over ``SLS4-HMAC-SHA256 \\n x-log-date \\n scope \\n
hex(SHA256(canonical request))``, with the key derived from ``"aliyun_v4" + secret`` through the
date, region, ``sls`` and ``aliyun_v4_request``. See docs/protocols.md section 4.

Pure functions; thread-safe.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import quote

from .wire import HttpRequest

__all__ = [
    "LogAuthorization",
    "parse_log_authorization",
    "v1_signature",
    "v1_string_to_sign",
    "v4_scope_error",
    "v4_signature",
]

V4_ALGORITHM = "SLS4-HMAC-SHA256"
V4_PRODUCT = "sls"
V4_TERMINATOR = "aliyun_v4_request"
_V4_PATTERN = re.compile(
    r"SLS4-HMAC-SHA256 Credential=(?P<ak>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]*)/(?P<product>[^/,\s]+)"
    r"/(?P<terminator>[^/,\s]+),\s*Signature=(?P<sig>[0-9a-fA-F]+)\s*$"
)
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class LogAuthorization:
    """The parts of an ``Authorization`` header; ``version`` is 1 or 4."""

    version: int
    access_key_id: str
    signature: str
    date: str = ""
    region: str = ""
    product: str = ""
    terminator: str = ""


def parse_log_authorization(value: str) -> LogAuthorization | None:
    """Split ``LOG <id>:<sig>`` or an ``SLS4-HMAC-SHA256 ...`` header; ``None`` if neither."""
    if value.startswith("LOG "):
        access_key_id, sep, signature = value[4:].rpartition(":")
        if not sep or not access_key_id or not signature:
            return None
        return LogAuthorization(1, access_key_id, signature)
    match = _V4_PATTERN.match(value)
    if match is None:
        return None
    return LogAuthorization(
        4,
        match["ak"],
        match["sig"].lower(),
        date=match["date"],
        region=match["region"],
        product=match["product"],
        terminator=match["terminator"],
    )


def _is_signed_header(name: str) -> bool:
    return name.startswith("x-acs-") or (name.startswith("x-log-") and not name.startswith("x-log-meta-"))


def v1_string_to_sign(request: HttpRequest, resource: str) -> str:
    """The v1 string to sign for ``request``, whose path without the project is ``resource``."""
    headers = request.headers
    log_headers = "".join(
        f"{name}:{headers[name]}\n"
        for name in sorted(headers)
        if _is_signed_header(name) and name != "x-log-date"
    )
    query = sorted(request.query.items())
    canonical_resource = resource + ("?" + "&".join(f"{k}={v}" for k, v in query) if query else "")
    date = headers.get("date") or headers.get("x-log-date", "")
    fields = [request.method, headers.get("content-md5", ""), headers.get("content-type", ""), date]
    return "\n".join(fields) + "\n" + log_headers + canonical_resource


def v1_signature(secret: str, string_to_sign: str) -> str:
    """base64(HMAC-SHA1(secret, string_to_sign))."""
    digest = hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def v4_scope_error(request: HttpRequest, auth: LogAuthorization, region: str) -> str | None:
    """Why a v4 credential scope does not fit this endpoint (region, product, date), or ``None``."""
    if auth.terminator != V4_TERMINATOR:
        return f"credential scope must end with {V4_TERMINATOR}"
    if auth.product != V4_PRODUCT:
        return f"credential scope product must be {V4_PRODUCT}"
    if auth.region != region:
        return f"credential scope region {auth.region} does not match {region}"
    if auth.date != request.headers.get("x-log-date", "")[:8]:
        return "credential scope date does not match x-log-date"
    return None


def v4_signature(request: HttpRequest, resource: str, auth: LogAuthorization, secret: str) -> str:
    """The hex v4 signature of ``request`` as its scope in ``auth`` says it was made."""
    headers = request.headers
    signed = sorted(
        (name, value.strip())
        for name, value in headers.items()
        if name in ("content-type", "host") or _is_signed_header(name)
    )
    query = sorted(request.query.items())
    canonical_query = "&".join(f"{key}={quote(value, safe='~')}" if value else key for key, value in query)
    canonical = "\n".join(
        [
            request.method,
            resource,
            canonical_query,
            "".join(f"{name}:{value}\n" for name, value in signed),
            ";".join(name for name, _ in signed),
            headers.get("x-log-content-sha256", _EMPTY_SHA256),
        ]
    )
    scope = f"{auth.date}/{auth.region}/{auth.product}/{auth.terminator}"
    string_to_sign = "\n".join(
        [V4_ALGORITHM, headers.get("x-log-date", ""), scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("aliyun_v4" + secret).encode("utf-8")
    for part in (auth.date, auth.region, auth.product, auth.terminator):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()

"""The DKMS client key and the signed request headers of ``GetSecretValue`` (private).

A DKMS instance authenticates each request by an RSA signature (PKCS#1 v1.5, SHA-256) over a
canonical string built from the method, three headers and every ``x-kms-*`` header, made with the
private key inside the client key's PKCS#12. The header names, their order and the canonical string
are those of alibabacloud-dkms-gcs 1.0.2 (docs/protocols.md, "DKMS requests"); the golden fixture in
``tests/fixtures/dkms_golden.json`` pins them byte for byte.

Thread-safety: :class:`DkmsClientKey` is immutable and its ``sign`` may run on many threads at once.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import json
import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

__all__ = [
    "API_VERSION",
    "PROTOCOL_USER_AGENT",
    "ClientKeyError",
    "DkmsClientKey",
    "http_date",
    "request_headers",
    "string_to_sign",
    "user_agent",
]

API_VERSION = "dkms-gcs-0.2"
SIGNATURE_METHOD = "RSA_PKCS1_SHA_256"
CONTENT_TYPE = "application/x-protobuf"
PROTOCOL_USER_AGENT = "kms-gcs-python-sdk-version/1.0.2"
"""The last User-Agent token: the client version whose wire format we speak."""
_PRODUCT_USER_AGENT = "managed-credentials-providers"
_KEY_ID = re.compile(r"[\x21-\x7e]+")  # a header value that needs no trimming or escaping


class ClientKeyError(ValueError):
    """The client key cannot be used; the message says why and never holds key material."""


@dataclass(frozen=True)
class DkmsClientKey:
    """A client key opened once: its KeyId and its RSA private key (never in ``repr``).

    Attributes:
        key_id: sent as ``x-kms-acccesskeyid``.
    """

    key_id: str
    _private_key: rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def from_json(cls, content: str, password: str) -> DkmsClientKey:
        """Open a ``clientKey_*.json`` document (``{"KeyId", "PrivateKeyData": <base64 PKCS#12>}``).

        Every PKCS#12 encryption that OpenSSL reads is accepted: the legacy RC2/3DES ones that
        ``openssl pkcs12 -export -legacy`` writes and PBES2/AES.

        Raises:
            ClientKeyError: not that JSON, a wrong password, a damaged PKCS#12, or not an RSA key.
        """
        try:
            document = json.loads(content)
        except ValueError:
            raise ClientKeyError("the client key is not JSON") from None
        key_id = document.get("KeyId") if isinstance(document, dict) else None
        data = document.get("PrivateKeyData") if isinstance(document, dict) else None
        if not isinstance(key_id, str) or not isinstance(data, str) or not data:
            raise ClientKeyError("the client key JSON lacks KeyId or PrivateKeyData")
        if not _KEY_ID.fullmatch(key_id):
            raise ClientKeyError("the client key's KeyId is empty or holds spaces or control characters")
        try:
            blob = base64.b64decode(data, validate=True)
            private_key, _certificate, _others = pkcs12.load_key_and_certificates(
                blob, password.encode("utf-8")
            )
        except (ValueError, TypeError, binascii.Error):
            raise ClientKeyError("wrong password or damaged PKCS#12 in PrivateKeyData") from None
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ClientKeyError("the client key's PKCS#12 holds no RSA private key")
        return cls(key_id, private_key)

    def sign(self, text: str) -> str:
        """``Bearer <base64 RSA-PKCS1-v1_5-SHA256 signature of text>``."""
        signature = self._private_key.sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
        return "Bearer " + base64.b64encode(signature).decode("ascii")


def http_date(epoch_seconds: float) -> str:
    """The ``date`` header: RFC 1123 in GMT, English whatever the locale."""
    return email.utils.formatdate(epoch_seconds, usegmt=True)


def user_agent(product: str = _PRODUCT_USER_AGENT) -> str:
    """``AlibabaCloud (<system>; <machine>) Python/<version> <product> kms-gcs-python-sdk-version/1.0.2``.

    The form dkms-gcs sends when its ``Config.user_agent`` is ``product``.
    """
    return (
        f"AlibabaCloud ({platform.system()}; {platform.machine()}) Python/{platform.python_version()} "
        f"{product} {PROTOCOL_USER_AGENT}"
    )


def string_to_sign(method: str, headers: Sequence[tuple[str, str]]) -> str:
    """The canonical string: method, content-sha256, content-type, date, sorted ``x-kms-*`` lines, ``/``.

    Header names must be lower case (as :func:`request_headers` makes them); values of ``x-kms-*``
    headers are stripped of surrounding white space. The resource is always ``/``: the request path.
    """
    values = dict(headers)
    kms = "".join(f"{name}:{values[name].strip()}\n" for name in sorted(values) if name.startswith("x-kms-"))
    return (
        f"{method}\n{values.get('content-sha256', '')}\n{values.get('content-type', '')}\n"
        f"{values.get('date', '')}\n{kms}/"
    )


def request_headers(
    key: DkmsClientKey,
    *,
    host: str,
    body: bytes,
    date: str,
    agent: str,
    api_name: str = "GetSecretValue",
) -> list[tuple[str, str]]:
    """The headers of ``POST /`` exactly as dkms-gcs 1.0.2 puts them on the wire, in its order.

    Its HTTP stack adds ``Accept-Encoding: identity`` first and re-spells ``Content-Length`` when
    it sets the value itself, i.e. for a non-empty body; every other name is lower case;
    ``authorization`` comes last. Only the lower-case headers are signed.
    """
    headers = [
        ("accept", CONTENT_TYPE),
        ("host", host),
        ("date", date),
        ("user-agent", agent),
        ("x-kms-apiversion", API_VERSION),
        ("x-kms-apiname", api_name),
        ("x-kms-signaturemethod", SIGNATURE_METHOD),
        ("x-kms-acccesskeyid", key.key_id),  # sic: three 'c', as the service expects
        ("content-type", CONTENT_TYPE),
        ("content-length", str(len(body))),
        ("content-sha256", hashlib.sha256(body).hexdigest().upper()),
    ]
    headers.append(("authorization", key.sign(string_to_sign("POST", headers))))
    length_name = "Content-Length" if body else "content-length"
    wire = [(length_name if name == "content-length" else name, value) for name, value in headers]
    return [("Accept-Encoding", "identity"), *wire]

"""Signing KMS gateway requests with a client key (``credentials_type=client_key``).

The KMS gateway accepts RPC requests whose ``AccessKeyId`` is a client key's ``KeyId`` and whose
signature is SHA256withRSA (``SignatureType=PRIVATEKEY``) made with the client key's private key.
aliyunsdkcore composes such a signature when a request's signature algorithm is its
``sha_hmac256`` module, which takes the base64 DER private key in place of a secret.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aliyunsdkcore.auth.algorithm import sha_hmac256
from aliyunsdkcore.auth.signers.signer import Signer
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, pkcs12

from ..exceptions import ConfigError

__all__ = ["ClientKeySigner"]


class ClientKeySigner(Signer):  # type: ignore[misc]
    """An aliyunsdkcore signer for RPC requests, keyed by a KMS client key. Thread-safe.

    Args:
        client_key_content: the ClientKey JSON text (``{"KeyId", "PrivateKeyData"}``).
        password: the PKCS#12 password.
    """

    def __init__(self, client_key_content: str, password: str) -> None:
        try:
            document = json.loads(client_key_content)
            blob = base64.b64decode(document["PrivateKeyData"])
            private_key, _cert, _extra = pkcs12.load_key_and_certificates(blob, password.encode())
            self.key_id = str(document["KeyId"])
        except (ValueError, KeyError, TypeError):
            private_key = None
        if private_key is None:
            raise ConfigError(
                "client_key_private_key_path: the client key cannot be opened with its password",
                key="client_key_private_key_path",
            )
        der = private_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        self._private_key_b64 = base64.b64encode(der).decode()

    def __repr__(self) -> str:
        return f"ClientKeySigner(key_id={self.key_id!r})"

    def sign(self, region_id: str, request: Any) -> tuple[dict[str, str], str]:
        # The request's signature algorithm is a module attribute aliyunsdkcore reads when it
        # composes the URL (checked against 2.16.1; listed in docs/sdk_hooks.md).
        request._signer = sha_hmac256
        header = request.get_signed_header(region_id, self.key_id, self._private_key_b64)
        url = request.get_url(region_id, self.key_id, self._private_key_b64)
        return header, url

"""The dedicated KMS instance (DKMS) gateway: ``GetSecretValue`` over protobuf, RSA-signed.

Speaks the wire format of ``alibabacloud_dkms_gcs`` 1.0.2 (docs/protocols.md, "DKMS"): ``POST /``
with a ``GetSecretValueRequest`` protobuf body, ``x-kms-*`` headers and an
``authorization: Bearer <base64 RSA-PKCS1-SHA256 signature>``. Messages are read and written by
:mod:`.protobuf_wire`, the emulator's own codec: nothing here is shared with the product's DKMS
client, and the reference environment (``tests/dkms_reference``) checks both this service and that
codec against the real dkms-gcs client and its generated protobuf classes.

Client keys (the ``clientKey_*.json`` + password pair a real instance hands out) are issued by
:meth:`DkmsService.issue_client_key`; only their public keys are kept. The Date header's freshness is
not checked, because tests run on a manual clock.

Speed: generating an RSA-2048 key takes ~50-60 ms, and a test run issues a couple of hundred client
keys, so the RSA keys come from a small per-process pool (:func:`_pooled_private_key`): each
:class:`DkmsService` hands out the pool's keys in turn, so two keys issued one after the other by the
same service always hold *different* RSA keys (a signature made with one never verifies for the
other), while every key still has its own KeyId, certificate, password and PKCS#12. The PKCS#12 is
sealed with :data:`PKCS12_KDF_ROUNDS` PBKDF2 rounds (``openssl pkcs12 -export``'s default) instead of
``BestAvailableEncryption``'s 20 000, which cuts both issuing and the client's PKCS#12 loading from
~10 ms to ~1 ms; a wrong password still fails the MAC check. Only cryptography APIs present since
release 41 are used: the reference environment runs this module with the client's pinned versions.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import logging
import threading
import uuid
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from . import protobuf_wire
from .state import CloudState
from .wire import HttpRequest, HttpResponse

__all__ = ["KEY_POOL_SIZE", "PKCS12_KDF_ROUNDS", "ClientKey", "DkmsService"]

_LOGGER = logging.getLogger(__name__)

_API_VERSION = "dkms-gcs-0.2"
_SIGNATURE_METHOD = "RSA_PKCS1_SHA_256"
_KEY_ID_HEADER = "x-kms-acccesskeyid"  # sic: the client spells it with three 'c'
_REQUIRED_HEADERS = ("x-kms-apiversion", "x-kms-apiname", "x-kms-signaturemethod", _KEY_ID_HEADER)
_SUPPORTED_APIS = ("GetSecretValue",)

KEY_POOL_SIZE = 2
"""Distinct RSA keys per process; consecutive keys from one :class:`DkmsService` never share one."""
PKCS12_KDF_ROUNDS = 2048
"""PBKDF2 rounds of the PKCS#12 (PBES2, AES-256-CBC, HMAC-SHA256 MAC), as ``openssl pkcs12 -export``."""

_key_pool: list[rsa.RSAPrivateKey] = []
_key_pool_lock = threading.Lock()


def _pooled_private_key(index: int) -> rsa.RSAPrivateKey:
    """The RSA-2048 key of pool slot ``index % KEY_POOL_SIZE``, generated on first use. Thread-safe."""
    slot = index % KEY_POOL_SIZE
    with _key_pool_lock:
        while len(_key_pool) <= slot:
            _key_pool.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        return _key_pool[slot]


@dataclass(frozen=True)
class ClientKey:
    """A DKMS client key as a real instance issues it: an id and a password-protected PKCS#12.

    Attributes:
        key_id: the ``KAAP.<uuid>`` id the client sends as ``x-kms-acccesskeyid``.
        private_key_data: base64 of the DER PKCS#12 holding the RSA key (kept out of ``repr``).
        public_key: the PEM public key the gateway verifies signatures with.
    """

    key_id: str
    private_key_data: str = field(repr=False)
    public_key: str

    def to_json(self) -> str:
        """The ``clientKey_*.json`` content a DKMS client loads (``{"KeyId", "PrivateKeyData"}``)."""
        return json.dumps({"KeyId": self.key_id, "PrivateKeyData": self.private_key_data})


class _DkmsError(Exception):
    """Internal: an error reply to send; never carries secrets."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message


class DkmsService:
    """The emulated DKMS instance gateway. Thread-safe: ``handle`` runs on many threads at once.

    Args:
        state: the cloud whose secrets are served.
    """

    name = "dkms"

    def __init__(self, state: CloudState) -> None:
        self._state = state
        self._lock = threading.Lock()
        self._public_keys: dict[str, rsa.RSAPublicKey] = {}
        self._issued = 0

    # ---- client keys -------------------------------------------------------------------------
    def issue_client_key(self, password: str) -> ClientKey:
        """Issue a client key (a new KeyId; an RSA-2048 key from the pool, see the module docstring) in
        a PKCS#12 sealed with ``password``, and register it.

        The key differs from the one this service issued just before, so a test can forge a signature
        with "another" client key by taking the next one issued.
        """
        with self._lock:
            index, self._issued = self._issued, self._issued + 1
        private_key = _pooled_private_key(index)
        key_id = f"KAAP.{uuid.uuid4()}"
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, key_id)])
        now = datetime.datetime.fromtimestamp(self._state.clock.time(), tz=datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(private_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .sign(private_key, hashes.SHA256())
        )
        p12 = pkcs12.serialize_key_and_certificates(
            key_id.encode(),
            private_key,
            cert,
            None,
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(PKCS12_KDF_ROUNDS)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
            .build(password.encode()),
        )
        public_pem = (
            private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        with self._lock:
            self._public_keys[key_id] = private_key.public_key()
        self._state.register_client_key(key_id, private_key.public_key())
        _LOGGER.debug("issued DKMS client key %s", key_id)
        return ClientKey(key_id, base64.b64encode(p12).decode(), public_pem)

    def revoke_client_key(self, key_id: str) -> None:
        """Forget a client key: later requests signed with it get ``Unauthorized``."""
        with self._lock:
            self._public_keys.pop(key_id, None)
        self._state.forget_client_key(key_id)

    # ---- service interface -------------------------------------------------------------------
    def action_of(self, request: HttpRequest) -> str:
        """The API name (``x-kms-apiname``) of a request, without handling it."""
        return request.header("x-kms-apiname")

    def access_key_id_of(self, request: HttpRequest) -> str:
        """The client KeyId (``x-kms-acccesskeyid``) of a request, without handling it."""
        return request.header(_KEY_ID_HEADER)

    def error_response(self, status: int, code: str, message: str) -> HttpResponse:
        """A DKMS ``Error`` protobuf reply."""
        body = protobuf_wire.serialize(
            protobuf_wire.ERROR,
            {
                "StatusCode": status,
                "ErrorCode": code,
                "ErrorMessage": message,
                "RequestId": str(uuid.uuid4()),
            },
        )
        return HttpResponse(status, body, {"Content-Type": "application/x-protobuf"}, error_code=code)

    def garbage_response(self) -> HttpResponse:
        """A 200 whose body is not a valid protobuf message (a truncated length-delimited field)."""
        return HttpResponse(200, b"\x0a\xff\xff\x03garbage", {"Content-Type": "application/x-protobuf"})

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer one request; never raises for a bad request."""
        action = self.action_of(request)
        key_id = request.header(_KEY_ID_HEADER)
        try:
            response = self._handle(request, action, key_id)
        except _DkmsError as exc:
            _LOGGER.debug("DKMS %s from %s rejected: %s", action, key_id, exc.code)
            response = self.error_response(exc.status, exc.code, exc.message)
        response.action = action
        response.access_key_id = key_id
        return response

    # ---- internals ---------------------------------------------------------------------------
    def _handle(self, request: HttpRequest, action: str, key_id: str) -> HttpResponse:
        if request.method != "POST" or request.path != "/":
            raise _DkmsError(404, "NotFound", "The requested resource does not exist.")
        self._authenticate(request, key_id)
        if action not in _SUPPORTED_APIS:
            raise _DkmsError(400, "InvalidApiName", f"The ApiName {action} is invalid.")
        return self._get_secret_value(request.body)

    def _authenticate(self, request: HttpRequest, key_id: str) -> None:
        for name in _REQUIRED_HEADERS:
            if not request.header(name):
                raise _DkmsError(400, "MissingParameter", f"Parameter {name} does not exist.")
        if not request.header("date"):
            raise _DkmsError(400, "InvalidParam", "The Param Date is invalid.")
        if request.header("x-kms-apiversion") != _API_VERSION:
            raise _DkmsError(400, "InvalidApiVersion", "The ApiVersion is invalid.")
        authorization = request.header("authorization")
        # Only the two InvalidParam messages dkms-transfer knows are used (dkms-transfer maps only those two).
        if request.header("x-kms-signaturemethod") != _SIGNATURE_METHOD or not authorization.startswith(
            "Bearer "
        ):
            raise _DkmsError(400, "InvalidParam", "The Param Authorization is invalid.")
        try:
            signature = base64.b64decode(authorization[len("Bearer ") :], validate=True)
        except (binascii.Error, ValueError):
            raise _DkmsError(400, "InvalidParam", "The Param Authorization is invalid.") from None
        with self._lock:
            public_key = self._public_keys.get(key_id)
        unauthorized = _DkmsError(401, "Unauthorized", "The request is not authorized.")
        if public_key is None:
            raise unauthorized
        expected_sha = hashlib.sha256(request.body).hexdigest().upper()
        if request.header("content-sha256") != expected_sha:
            raise unauthorized
        try:
            public_key.verify(
                signature, _string_to_sign(request).encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            raise unauthorized from None

    def _get_secret_value(self, body: bytes) -> HttpResponse:
        try:
            req = protobuf_wire.parse(protobuf_wire.GET_SECRET_VALUE_REQUEST, body)
        except protobuf_wire.WireFormatError:
            raise _DkmsError(400, "InvalidRequestBody", "The request body is not valid.") from None
        secret_name = str(req["SecretName"])
        if not secret_name:
            raise _DkmsError(400, "MissingParameter", "Parameter SecretName does not exist.")
        not_found = _DkmsError(
            404, "Forbidden.ResourceNotFound", "The resource you requested does not exist."
        )
        try:
            fields = self._state.get_secret_value_fields(
                secret_name,
                fetch_extended_config=bool(req["FetchExtendedConfig"]),
                version_id=str(req["VersionId"]) or None,
                version_stage=str(req["VersionStage"]) or None,
            )
        except (KeyError, LookupError):
            raise not_found from None
        reply = {**fields, "RequestId": str(uuid.uuid4())}
        body = protobuf_wire.serialize(protobuf_wire.GET_SECRET_VALUE_RESPONSE, reply)
        return HttpResponse(200, body, {"Content-Type": "application/x-protobuf"})


def _string_to_sign(request: HttpRequest) -> str:
    """Rebuild the client's string to sign (``openapi_util.client.get_string_to_sign``)."""
    kms_headers = "".join(
        f"{name}:{request.headers[name].strip()}\n"
        for name in sorted(request.headers)
        if name.startswith("x-kms-")
    )
    return (
        f"{request.method}\n{request.header('content-sha256')}\n{request.header('content-type')}\n"
        f"{request.header('date')}\n{kms_headers}/"
    )

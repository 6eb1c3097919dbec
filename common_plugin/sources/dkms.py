"""GetSecretValue from a dedicated KMS instance (DKMS) with a client key.

The protocol (docs/protocols.md, "DKMS") is one signed ``POST /`` with a protobuf body; it is spoken
here by three small private modules: :mod:`.dkms_codec` (the messages), :mod:`.dkms_signing` (the
client key and the signed headers, as alibabacloud-dkms-gcs 1.0.2 sends them) and
:mod:`.http_transport` (connections with a total deadline and a trust store of this source's own).
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from urllib.parse import urlsplit

from ..clock import SYSTEM_CLOCK, Clock
from ..credentials import SecretValue
from ..exceptions import ConfigError, SecretFetchError
from .base import SecretSource
from .dkms_codec import (
    MAX_MESSAGE_BYTES,
    decode_error,
    decode_secret_reply,
    encode_get_secret_value_request,
)
from .dkms_signing import ClientKeyError, DkmsClientKey, http_date, request_headers
from .dkms_signing import user_agent as default_user_agent
from .http_transport import HttpReply, HttpTransport, TransportError, client_ssl_context

__all__ = ["DkmsSource"]

_LOGGER = logging.getLogger(__name__)
_RETRYABLE_CODES = frozenset({"Rejected.Throttling", "InternalFailure", "ServiceUnavailable", "Throttling"})
# The Alibaba Cloud SDKs' CA-bundle variable; trusted when a DKMS entry has no caFilePath.
_CA_BUNDLE_VARIABLE = "ALIBABA_CLOUD_CA_BUNDLE"
_HINTS = {
    "Unauthorized": "the client key was not accepted: check clientKeyFile and that it is enabled",
    "Forbidden.ResourceNotFound": "no such secret in this instance: check the secret name",
    "Forbidden.NoPermission": "the client key's application access point does not allow this secret",
}
_NETWORK_DETAILS = {
    "timeout": "timed out",
    "refused": "connection refused",
    "reset": "connection dropped",
    "dns": "host name not found",
}
_warned_ignore_ssl: set[str] = set()
_warn_lock = threading.Lock()


class DkmsSource(SecretSource):
    """A secret source backed by one DKMS instance.

    Args:
        region_id: the instance's region (for messages).
        endpoint: ``<instance>.cryptoservice.kms.aliyuncs.com`` or ``host:port``.
        client_key_content: the client key JSON text (``{"KeyId", "PrivateKeyData"}``); its
            PKCS#12 is opened here, once.
        password: the client key's PKCS#12 password.
        ca_file_path: the CA bundle (PEM) that signs the instance's certificate, and the only one
            trusted. ``None``: the bundle named by ``ALIBABA_CLOUD_CA_BUNDLE`` when set (read now),
            else the system trust store.
        ignore_ssl_certs: switch certificate verification off (the user's explicit opt-in; warned
            once per endpoint).
        timeout_seconds: the total budget of one request: connecting, the TLS handshake, sending
            and reading the whole answer.
        protocol: ``https`` (real instances are HTTPS only) or ``http`` for a plain local emulator.
        clock: the wall clock of the signed ``date`` header (a fixed one makes requests repeatable).
        user_agent: the whole ``user-agent`` header; by default the form dkms-gcs 1.0.2 sends, with
            this library named in it.

    Raises:
        SecretFetchError: ``SDK.InvalidClientKey`` when the client key cannot be opened.
        ConfigError: the endpoint or the CA bundle is unusable.

    Thread-safe: requests share only the immutable key and the transport's connection pool.
    """

    def __init__(
        self,
        *,
        region_id: str,
        endpoint: str,
        client_key_content: str,
        password: str,
        ca_file_path: str | None = None,
        ignore_ssl_certs: bool = False,
        timeout_seconds: float = 10.0,
        protocol: str = "https",
        clock: Clock = SYSTEM_CLOCK,
        user_agent: str | None = None,
    ) -> None:
        self.region_id = region_id
        self.endpoint = endpoint.rstrip("/")
        try:
            self._key = DkmsClientKey.from_json(client_key_content, password)
        except ClientKeyError as exc:
            raise SecretFetchError(
                f"cannot load the client key for DKMS endpoint {endpoint}: {exc}; check clientKeyFile "
                "and its password",
                code="SDK.InvalidClientKey",
            ) from None
        host, port = _host_and_port(self.endpoint, protocol)
        if ignore_ssl_certs or protocol != "https":
            _warn_once(self.endpoint, ignore_ssl_certs)
        verify = not ignore_ssl_certs  # tls-opt-out: ignoreSslCerts
        context = _ssl_context(self.endpoint, ca_file_path, verify) if protocol == "https" else None
        self._transport = HttpTransport(
            host,
            port,
            ssl_context=context,
            timeout_seconds=timeout_seconds,
            max_response_bytes=MAX_MESSAGE_BYTES,
        )
        self._clock = clock
        self._user_agent = user_agent or default_user_agent()

    def describe(self) -> str:
        return f"dkms {self.region_id} {self.endpoint}"

    def after_fork(self) -> None:
        self._transport.after_fork()

    def close(self) -> None:
        self._transport.close()

    def get_secret_value(self, secret_name: str) -> SecretValue:
        body = encode_get_secret_value_request(
            secret_name, version_stage="ACSCurrent", fetch_extended_config=True
        )
        headers = request_headers(
            self._key,
            host=self.endpoint,
            body=body,
            date=http_date(self._clock.time()),
            agent=self._user_agent,
        )
        where = self.describe()
        try:
            reply = self._transport.request("POST", "/", headers, body)
        except TransportError as exc:
            raise _transport_error(secret_name, where, exc) from None
        except ValueError:  # a header the endpoint or KeyId made unsendable
            raise _unusable(secret_name, where, "the request could not be written") from None
        _LOGGER.debug("DKMS %s answered GetSecretValue for %s with HTTP %d", where, secret_name, reply.status)
        if reply.status >= 400:
            raise _service_error(secret_name, where, reply)
        if not 200 <= reply.status < 300:
            raise _unusable(secret_name, where, f"HTTP {reply.status}")
        try:
            decoded = decode_secret_reply(reply.body)
        except SecretFetchError:
            raise _unusable(secret_name, where, "not a GetSecretValueResponse") from None
        return SecretValue(
            secret_name=decoded.secret_name or secret_name,
            secret_data=decoded.secret_data,
            secret_type=decoded.secret_type,
            secret_data_type=decoded.secret_data_type or "text",
            version_id=decoded.version_id,
            version_stages=decoded.version_stages,
            create_time=decoded.create_time,
            last_rotation_date=decoded.last_rotation_date,
            next_rotation_date=decoded.next_rotation_date,
            extended_config=decoded.extended_config,
            automatic_rotation=decoded.automatic_rotation,
            rotation_interval=decoded.rotation_interval,
            request_id=decoded.request_id,
        )


def _host_and_port(endpoint: str, protocol: str) -> tuple[str, int]:
    if protocol not in ("https", "http"):
        raise ConfigError(
            f"DKMS endpoint {endpoint}: protocol {protocol!r} is not https or http",
            key="cache_client_dkms_config_info",
        )
    try:
        parts = urlsplit(f"//{endpoint}")
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host:
        raise ConfigError(
            f"DKMS endpoint {endpoint!r} is not host or host:port", key="cache_client_dkms_config_info"
        )
    return host, port or (443 if protocol == "https" else 80)


def _ssl_context(endpoint: str, ca_file_path: str | None, verify: bool) -> ssl.SSLContext:
    if not verify:
        return client_ssl_context(None, verify=False)  # tls-opt-out: ignoreSslCerts
    ca_file, origin, key = ca_file_path, "caFilePath", "cache_client_dkms_config_info"
    if not ca_file:
        ca_file = os.environ.get(_CA_BUNDLE_VARIABLE) or None
        origin = key = _CA_BUNDLE_VARIABLE
    try:
        return client_ssl_context(ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"{origin}: cannot load the CA bundle {ca_file} for DKMS endpoint {endpoint} "
            f"({type(exc).__name__}); name a readable PEM file",
            key=key,
            path=ca_file,
        ) from None


def _warn_once(endpoint: str, ignore_ssl_certs: bool) -> None:
    with _warn_lock:
        if endpoint in _warned_ignore_ssl:
            return
        _warned_ignore_ssl.add(endpoint)
    _LOGGER.warning(
        "TLS is %s for DKMS endpoint %s; use https with caFilePath outside local tests",
        "not verified (ignoreSslCerts=true)" if ignore_ssl_certs else "not used (http://)",
        endpoint,
    )


def _transport_error(secret_name: str, where: str, exc: TransportError) -> SecretFetchError:
    if exc.kind == "certificate":
        return SecretFetchError(
            f"DKMS {where} could not be asked for secret {secret_name!r}: certificate verify failed for "
            f"{exc.address}; set caFilePath or {_CA_BUNDLE_VARIABLE} ({exc.detail})",
            secret_name=secret_name,
            code="SDK.HttpError",
            retryable=True,
        )
    if exc.kind in ("too-large", "protocol"):
        return _unusable(secret_name, where, exc.detail)
    if exc.kind == "deadline":
        detail = f"timed out: {exc.detail}, the request deadline"
    elif exc.kind == "tls":
        detail = f"TLS failed: {exc.detail}"
    else:
        detail = _NETWORK_DETAILS.get(exc.kind, exc.detail)
    return SecretFetchError(
        f"DKMS {where} unreachable for secret {secret_name!r} ({detail}); check the endpoint, "
        "the network and caFilePath",
        secret_name=secret_name,
        code="SDK.HttpError",
        retryable=True,
    )


def _service_error(secret_name: str, where: str, reply: HttpReply) -> SecretFetchError:
    try:
        error = decode_error(reply.body)
    except SecretFetchError:
        return _unusable(secret_name, where, f"HTTP {reply.status} without a DKMS Error body")
    if not error.error_code:
        return _unusable(secret_name, where, f"HTTP {reply.status} without an error code")
    code = error.error_code
    hint = _HINTS.get(code, "see the DKMS error code reference")
    return SecretFetchError(
        f"DKMS {where} rejected GetSecretValue for {secret_name!r}: {code} ({hint})",
        secret_name=secret_name,
        code=code,
        http_status=reply.status,
        retryable=code in _RETRYABLE_CODES or reply.status >= 500,
    )


def _unusable(secret_name: str, where: str, detail: str) -> SecretFetchError:
    # A body that is not the protobuf expected, or an answer that is not HTTP at all.
    return SecretFetchError(
        f"DKMS {where} gave an unusable answer for {secret_name!r} ({detail}); the service or a proxy "
        "in between may be misbehaving",
        secret_name=secret_name,
        code="SDK.InvalidResponse",
        retryable=True,
    )

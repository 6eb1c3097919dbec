"""GetSecretValue from a dedicated KMS instance (DKMS) with a client key, through alibabacloud-dkms-gcs.

We call the dkms-gcs client directly rather than through dkms-transfer's ``KmsTransferAcsClient``:
the transfer client skips TLS verification unless given ``verify`` and converts answers to JSON and
back; the gcs client gives typed fields and a TeaException with the service's code.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ..credentials import SecretValue
from ..exceptions import SecretFetchError
from .base import SecretSource
from .sdk_logging import silence_sdk_wire_logging

__all__ = ["DkmsSource"]

_LOGGER = logging.getLogger(__name__)
_RETRYABLE_CODES = frozenset({"Rejected.Throttling", "InternalFailure", "ServiceUnavailable", "Throttling"})
_warned_ignore_ssl: set[str] = set()
_warn_lock = threading.Lock()


class DkmsSource(SecretSource):
    """A secret source backed by one DKMS instance.

    Args:
        region_id: the instance's region (for messages).
        endpoint: ``<instance>.cryptoservice.kms.aliyuncs.com`` or ``host:port``.
        client_key_content: the client key JSON text (``{"KeyId", "PrivateKeyData"}``).
        password: the client key's PKCS#12 password.
        ca_file_path: the CA bundle that signs the instance's certificate; ``None`` uses the
            default trust store.
        ignore_ssl_certs: switch certificate verification off (the user's explicit opt-in; warned
            once per endpoint).
        timeout_seconds: connect and read timeout.
        protocol: ``https`` (real instances are HTTPS only) or ``http`` for a plain local emulator.

    Thread-safe: the underlying client is stateless per request.
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
    ) -> None:
        from openapi.models import Config
        from sdk.client import Client

        silence_sdk_wire_logging()
        self.region_id = region_id
        self.endpoint = endpoint
        self._ignore_ssl = ignore_ssl_certs
        if ignore_ssl_certs or protocol != "https":
            with _warn_lock:
                if endpoint not in _warned_ignore_ssl:
                    _warned_ignore_ssl.add(endpoint)
                    _LOGGER.warning(
                        "TLS is %s for DKMS endpoint %s; use https with caFilePath outside local tests",
                        "not verified (ignoreSslCerts=true)" if ignore_ssl_certs else "not used (http://)",
                        endpoint,
                    )
        timeout_ms = int(timeout_seconds * 1000)
        config = Config(
            protocol=protocol,
            endpoint=endpoint,
            region_id=region_id,
            client_key_content=client_key_content,
            password=password,
            ca_file_path=ca_file_path,
            ignore_ssl=ignore_ssl_certs,  # tls-opt-out: ignoreSslCerts
            read_timeout=timeout_ms,
            connect_timeout=timeout_ms,
        )
        try:
            self._client = Client(config)
        except Exception as exc:  # OpenSSL.crypto.Error on a wrong password, ValueError on bad JSON
            raise SecretFetchError(
                f"cannot load the client key for DKMS endpoint {endpoint}: {type(exc).__name__}; "
                "check clientKeyFile and its password",
                code="SDK.InvalidClientKey",
            ) from None

    def describe(self) -> str:
        return f"dkms {self.region_id} {self.endpoint}"

    def after_fork(self) -> None:
        # The Tea core keeps one HTTPS session per endpoint for the whole process; a forked child
        # must not share the parent's pooled connections (a private attribute: docs/sdk_hooks.md).
        from Tea.core import TeaCore

        TeaCore._sessions.clear()

    def get_secret_value(self, secret_name: str) -> SecretValue:
        from openapi_util.models import RuntimeOptions
        from sdk.models import GetSecretValueRequest

        request = GetSecretValueRequest(
            secret_name=secret_name, version_stage="ACSCurrent", fetch_extended_config=True
        )
        # One attempt: failover and backoff are FailoverSource's job, so the client's own fixed
        # 1 s retry loop is switched off.
        runtime = RuntimeOptions(autoretry=False, ignore_ssl=self._ignore_ssl)  # tls-opt-out: ignoreSslCerts
        try:
            response = self._client.get_secret_value_with_options(request, runtime)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a typed SecretFetchError
            raise _fetch_error(secret_name, self.describe(), exc) from None
        try:
            return SecretValue(
                secret_name=response.secret_name or secret_name,
                secret_data=response.secret_data or "",
                secret_type=response.secret_type or "",
                secret_data_type=response.secret_data_type or "text",
                version_id=response.version_id or "",
                version_stages=tuple(response.version_stages or ()),
                create_time=response.create_time or "",
                last_rotation_date=response.last_rotation_date or "",
                next_rotation_date=response.next_rotation_date or "",
                extended_config=response.extended_config or "",
                automatic_rotation=response.automatic_rotation or "",
                rotation_interval=response.rotation_interval or "",
                request_id=response.request_id or "",
            )
        except (AttributeError, TypeError):
            raise SecretFetchError(
                f"DKMS {self.describe()} answered GetSecretValue for {secret_name!r} with an unusable body",
                secret_name=secret_name,
                code="SDK.InvalidResponse",
                retryable=True,
            ) from None


_NETWORK_HINTS = (
    (("timed out", "timeout"), "timed out"),
    (("certificate", "ssl", "tls"), "TLS verification failed"),
    (("refused",), "connection refused"),
    (("reset", "aborted", "remote end closed", "connection broken"), "connection dropped"),
    (("name or service", "nodename", "resolve", "getaddrinfo"), "host name not found"),
)


def _network_detail(error: BaseException) -> str:
    """A short, secret-free description of a transport failure (Tea wraps them all in RetryError)."""
    text = str(error).lower()
    for needles, label in _NETWORK_HINTS:
        if any(needle in text for needle in needles):
            return label
    return type(error).__name__


def _fetch_error(secret_name: str, where: str, exc: BaseException) -> SecretFetchError:
    inner = getattr(exc, "inner_exception", None)
    if type(exc).__name__ == "UnretryableException" and isinstance(inner, Exception):
        if type(inner).__name__ == "TeaException":
            # With the client's own retries off, a retryable service error (throttling) arrives wrapped.
            exc = inner
    code: Any = getattr(exc, "code", None)
    data: Any = getattr(exc, "data", None)
    status = data.get("httpCode") if isinstance(data, dict) else None
    kind = type(exc).__name__
    if kind == "UnretryableException" or isinstance(exc, OSError):
        detail = _network_detail(inner if inner is not None else exc)
        return SecretFetchError(
            f"DKMS {where} unreachable for secret {secret_name!r} ({detail}); check the endpoint, "
            "the network and caFilePath",
            secret_name=secret_name,
            code="SDK.HttpError",
            retryable=True,
        )
    if isinstance(code, str) and code and kind == "TeaException":
        status_int = int(status) if isinstance(status, int) else None
        retryable = code in _RETRYABLE_CODES or (status_int is not None and status_int >= 500)
        hint = {
            "Unauthorized": "the client key was not accepted: check clientKeyFile and that it is enabled",
            "Forbidden.ResourceNotFound": "no such secret in this instance: check the secret name",
            "Forbidden.NoPermission": "the client key's application access point does not allow this secret",
        }.get(code, "see the DKMS error code reference")
        return SecretFetchError(
            f"DKMS {where} rejected GetSecretValue for {secret_name!r}: {code} ({hint})",
            secret_name=secret_name,
            code=code,
            http_status=status_int,
            retryable=retryable,
        )
    # A body that is not the protobuf the client expects, or any other client-side failure.
    return SecretFetchError(
        f"DKMS {where} gave an unusable answer for {secret_name!r} ({kind}); the service or a proxy "
        "in between may be misbehaving",
        secret_name=secret_name,
        code="SDK.InvalidResponse",
        retryable=True,
    )

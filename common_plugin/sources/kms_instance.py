"""GetSecretValue from a KMS instance reached with RAM credentials, through the Tea OpenAPI client.

A KMS instance (``<instance-id>.cryptoservice.kms.aliyuncs.com``) answers the KMS 2016-01-20
OpenAPI ``GetSecretValue`` as the shared gateway does, over HTTPS with a certificate signed by the
instance's private CA. We send exactly what ``alibabacloud_kms20160120``'s generated client (and
alibabacloud-secretsmanager-client-v2 2.x on top of it) sends: ``alibabacloud_tea_openapi``'s
``call_api`` with ``action=GetSecretValue, version=2016-01-20, style=RPC, POST /``, the parameters in
the query, signed ACS3-HMAC-SHA256 (V3) with the key an ``alibabacloud_credentials`` provider gives
(docs/protocols.md). Calling the generic client spares the dependency on the 300 KB generated one.

Needs the ``tea`` extra (``alibabacloud-tea-openapi``, ``alibabacloud-credentials``).

TLS: the instance's CA (``caFilePath``), else ``ALIBABA_CLOUD_CA_BUNDLE``, else certifi's bundle
(which does not hold an instance's private CA). Verification is never switched off here.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any

from ..credentials import SecretValue
from ..exceptions import SecretFetchError
from .base import SecretSource
from .openapi_fields import secret_value_from_fields
from .sdk_logging import silence_sdk_wire_logging

__all__ = ["KmsInstanceSource"]

_LOGGER = logging.getLogger(__name__)
_RETRYABLE_CODES = frozenset(
    {
        "Rejected.Throttling",
        "Throttling",
        "Throttling.User",
        "ServiceUnavailable",
        "ServiceUnavailableTemporary",
        "InternalFailure",
    }
)
_KEY_REJECTED_PREFIXES = ("InvalidAccessKeyId", "InvalidSecurityToken", "SignatureDoesNotMatch")
_CA_BUNDLE_VARIABLE = "ALIBABA_CLOUD_CA_BUNDLE"
_warned_plain_http: set[str] = set()
_warn_lock = threading.Lock()


class KmsInstanceSource(SecretSource):
    """A secret source backed by one KMS instance, reached with RAM credentials.

    Args:
        region_id: the instance's region (for messages).
        endpoint: ``<instance-id>.cryptoservice.kms.aliyuncs.com`` (``host[:port]``).
        credentials_provider: an ``alibabacloud_credentials_api.ICredentialsProvider`` (an
            AccessKey, an AssumeRole or an ECS-role provider of ``alibabacloud_credentials``); asked
            for a key on every request, and its own cache refreshes an STS key before it expires.
        ca_file_path: the instance's CA bundle; ``None`` uses ``ALIBABA_CLOUD_CA_BUNDLE`` when set,
            else certifi's bundle.
        timeout_seconds: connect and read timeout.
        protocol: ``https`` (real instances), or ``http`` for a plain-HTTP local emulator (warned
            once per endpoint).

    Thread-safe: the client keeps no per-request state, and the credentials providers lock their
    own refreshes.
    """

    def __init__(
        self,
        *,
        region_id: str,
        endpoint: str,
        credentials_provider: Any,
        ca_file_path: str | None = None,
        timeout_seconds: float = 10.0,
        protocol: str = "https",
    ) -> None:
        from alibabacloud_credentials.client import Client as CredentialClient
        from alibabacloud_tea_openapi import utils_models
        from alibabacloud_tea_openapi.client import Client as OpenApiClient

        silence_sdk_wire_logging()
        self.region_id = region_id
        self.endpoint = endpoint
        if protocol != "https":
            with _warn_lock:
                if endpoint not in _warned_plain_http:
                    _warned_plain_http.add(endpoint)
                    _LOGGER.warning(
                        "TLS is not used (http://) for KMS instance endpoint %s; use https with "
                        "caFilePath outside local tests",
                        endpoint,
                    )
        self.ca_file_path = ca_file_path or os.environ.get(_CA_BUNDLE_VARIABLE) or None
        timeout_ms = max(1, int(timeout_seconds * 1000))
        config = utils_models.Config(
            credential=CredentialClient(provider=credentials_provider),
            endpoint=endpoint,
            protocol=protocol,
            region_id=region_id,
            ca=self.ca_file_path,
            read_timeout=timeout_ms,
            connect_timeout=timeout_ms,
        )
        self._client = OpenApiClient(config)
        self._params = utils_models.Params(
            action="GetSecretValue",
            version="2016-01-20",
            protocol="HTTPS",
            pathname="/",
            method="POST",
            auth_type="AK",
            style="RPC",
            req_body_type="formData",
            body_type="json",
        )

    def describe(self) -> str:
        """``kms-instance <region> <endpoint>``: a KMS instance reached with RAM credentials."""
        return f"kms-instance {self.region_id} {self.endpoint}"

    def after_fork(self) -> None:
        # The Tea cores keep one pooled HTTPS session per endpoint for the whole process (darabonba
        # for this client, Tea for the credentials providers' AssumeRole and metadata calls); a
        # forked child must not share the parent's connections. Dropped, not closed: closing
        # would shut the parent's TLS sessions down.
        from darabonba.core import DaraCore
        from Tea.core import TeaCore

        DaraCore._sessions.clear()
        TeaCore._sessions.clear()

    def get_secret_value(self, secret_name: str) -> SecretValue:
        from alibabacloud_tea_openapi import utils_models
        from darabonba.runtime import RuntimeOptions

        request = utils_models.OpenApiRequest(
            query={"SecretName": secret_name, "VersionStage": "ACSCurrent", "FetchExtendedConfig": "true"}
        )
        # One attempt: failover and backoff are FailoverSource's job.
        runtime = RuntimeOptions(autoretry=False)
        try:
            answer = self._client.call_api(self._params, request, runtime)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a typed SecretFetchError
            raise _fetch_error(secret_name, self.describe(), self.endpoint, exc) from None
        body = answer.get("body") if isinstance(answer, dict) else None
        try:
            if not isinstance(body, dict):
                raise ValueError("not a JSON object")
            return secret_value_from_fields(secret_name, body)
        except (ValueError, TypeError):
            raise SecretFetchError(
                f"{self.describe()} answered GetSecretValue for {secret_name!r} with a "
                "body that is not the expected JSON; a proxy in between may be misbehaving",
                secret_name=secret_name,
                code="SDK.InvalidResponse",
                retryable=True,
            ) from None


_NETWORK_HINTS = (
    (("timed out", "timeout"), "timed out"),
    (("refused",), "connection refused"),
    (("reset", "aborted", "remote end closed", "connection broken", "incompleteread"), "connection dropped"),
    (("name or service", "nodename", "resolve", "getaddrinfo"), "host name not found"),
)
_TLS_FAILURE = re.compile(r"certificate[ _]verify[ _]failed|sslcertverification", re.IGNORECASE)
_HTTP_CODE = re.compile(r"(?:http_code:\s*|HttpCode=)(\d{3})")


def _transport_detail(text: str, kind: str) -> str:
    """A short, secret-free name for a transport failure, from its text (which is never quoted)."""
    if _TLS_FAILURE.search(text):
        return "TLS verification failed"
    lowered = text.lower()
    return next((label for needles, label in _NETWORK_HINTS if any(n in lowered for n in needles)), kind)


def _host_port(endpoint: str) -> str:
    host = endpoint.split("://", 1)[-1].split("/", 1)[0]
    return host if ":" in host else f"{host}:443"


def _fetch_error(secret_name: str, where: str, endpoint: str, exc: BaseException) -> SecretFetchError:
    """Map what the Tea client raised to a SecretFetchError; never quotes the exception's text.

    The Tea core wraps everything but an error answer in ``UnretryableException``, whose text may
    hold a response body; we look only at types, codes and statuses, and at a transport error's
    text for its kind.
    """
    code = getattr(exc, "code", None)
    status = getattr(exc, "status_code", None)
    if isinstance(code, str) and code and isinstance(status, int):
        return _answer_error(secret_name, where, exc, code, status)
    inner = getattr(exc, "inner_exception", None)
    cause = inner if isinstance(inner, BaseException) else exc
    kind = type(cause).__name__
    if kind == "CredentialException":
        # alibabacloud_credentials could not get a key: AssumeRole refused, or no instance metadata.
        match = _HTTP_CODE.search(str(cause))
        http_status = int(match.group(1)) if match else None
        return SecretFetchError(
            f"{where}: the RAM credential of credentials_type could not be obtained to "
            f"sign GetSecretValue for {secret_name!r} (HTTP {http_status or '-'}); check "
            "credentials_access_key_id, credentials_access_secret and credentials_role_arn (ram_role, "
            "sts), or credentials_role_name and the instance metadata service (ecs_ram_role)",
            secret_name=secret_name,
            code="SDK.GetSessionCredentialFailed",
            http_status=http_status,
            retryable=http_status is None or http_status >= 500 or http_status == 429,
        )
    if kind in ("RetryError", "ConnectionError") or isinstance(cause, OSError):
        text = str(cause)
        if type(exc).__name__ == "UnretryableException" and getattr(exc, "last_request", 0) is None:
            # No request was signed yet: the credentials provider's own call (AssumeRole, instance
            # metadata) failed, not the call to the instance.
            return SecretFetchError(
                f"{where}: the RAM credential of credentials_type could not be obtained to sign "
                f"GetSecretValue for {secret_name!r} ({_transport_detail(text, kind)}); check "
                "sts_endpoint (ram_role, sts) or the instance metadata service (ecs_ram_role), and the "
                "network",
                secret_name=secret_name,
                code="SDK.GetSessionCredentialFailed",
                retryable=True,
            )
        if _TLS_FAILURE.search(text):
            return SecretFetchError(
                f"{where}: certificate verify failed for {_host_port(endpoint)}; set "
                f"caFilePath or {_CA_BUNDLE_VARIABLE} (GetSecretValue for {secret_name!r})",
                secret_name=secret_name,
                code="SDK.HttpError",
                retryable=True,
            )
        return SecretFetchError(
            f"{where} unreachable for secret {secret_name!r} ({_transport_detail(text, kind)}); check "
            "the endpoint, the network and caFilePath",
            secret_name=secret_name,
            code="SDK.HttpError",
            retryable=True,
        )
    # A body that is not JSON, or any other client-side failure.
    return SecretFetchError(
        f"{where} gave an unusable answer for {secret_name!r} ({kind}); the service or a "
        "proxy in between may be misbehaving",
        secret_name=secret_name,
        code="SDK.InvalidResponse",
        retryable=True,
    )


def _answer_error(
    secret_name: str, where: str, exc: BaseException, code: str, status: int
) -> SecretFetchError:
    throttled = type(exc).__name__ == "ThrottlingException" or status == 429
    retryable = throttled or code in _RETRYABLE_CODES or status >= 500
    if code.startswith(_KEY_REJECTED_PREFIXES):
        hint = "the RAM credential of credentials_type was not accepted; check its keys"
    elif code == "Forbidden.ResourceNotFound":
        hint = "no such secret in this instance: check the secret name"
    elif code.startswith("Forbidden"):
        hint = "the RAM identity may not read this secret: grant it kms:GetSecretValue"
    else:
        hint = "see the KMS error code reference"
    return SecretFetchError(
        f"{where} rejected GetSecretValue for {secret_name!r}: {code} (HTTP {status}; {hint})",
        secret_name=secret_name,
        code=code,
        http_status=status,
        retryable=retryable,
    )

"""GetSecretValue from the KMS shared gateway through aliyunsdkcore's ``AcsClient``.

The request is sent with ``AcsClient._implementation_of_do_action``, not ``do_action_with_exception``:
the latter logs whole response bodies (the SecretData) at DEBUG. That private method is one of the
SDK internals listed in ``docs/sdk_hooks.md`` (checked against aliyun-python-sdk-core 2.16.1; pinned
by ``tests/test_sdk_hooks.py``).

Trust follows the SDK's convention: ``kms_ca_file_path`` when set; otherwise the client keeps
AcsClient's default (``None``), so aliyunsdkcore reads ``ALIBABA_CLOUD_CA_BUNDLE`` on every request
exactly as any ``AcsClient`` of the application does (a file or a hashed-certificate folder), and
without it uses the CA list it bundles (its vendored ``certifi``, not the system store).
``REQUESTS_CA_BUNDLE`` is not consulted: aliyunsdkcore bypasses it. One difference, on purpose:
aliyunsdkcore takes an *empty* ``ALIBABA_CLOUD_CA_BUNDLE`` as "do not verify"; here that is refused
with a typed error.

Each request has one total deadline, ``timeout_seconds`` (or what is left of the whole fetch, if
less), however slowly the server answers: the client's session sends through the deadline transport
of :mod:`~common_plugin.sources.acs_transport` (its docstring says why it works that way).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from ..config.plain_http import is_plain_http
from ..credentials import SecretValue
from ..exceptions import ConfigError, FetchDeadlineError, SecretFetchError
from .acs_transport import install_deadline_transport
from .base import SecretSource
from .client_key_signer import ClientKeySigner
from .deadline import deadline_scope
from .insecure import warn_insecure_transport
from .openapi_fields import secret_value_from_fields
from .sdk_logging import silence_sdk_wire_logging

__all__ = ["CA_BUNDLE_VARIABLE", "GatewaySource"]

CA_BUNDLE_VARIABLE = "ALIBABA_CLOUD_CA_BUNDLE"
# How OpenSSL (through urllib3 and requests) words a chain or host-name check that failed; the SDK
# hands the error on only as text (``ClientException(SDK.HttpError, str(exc))``).
_VERIFY_FAILED_MARKERS = ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed")

_RETRYABLE_CODES = frozenset(
    {
        "Rejected.Throttling",
        "Throttling",
        "Throttling.User",
        "ServiceUnavailable",
        "InternalFailure",
        "ServiceUnavailableTemporary",
        "SDK.UnknownServerError",
    }
)


class GatewaySource(SecretSource):
    """A secret source backed by the KMS shared gateway of one region.

    Args:
        region_id: the region, e.g. ``cn-hangzhou``.
        endpoint: ``kms.<region>.aliyuncs.com``, ``kms-vpc.<region>.aliyuncs.com``, a custom
            ``host[:port]`` (HTTPS), or ``http://host:port`` for a plain-HTTP local emulator, which
            needs ``allow_insecure_http``.
        credential: an aliyunsdkcore credential object (``AccessKeyCredential``,
            ``RamRoleArnCredential``, ``EcsRamRoleCredential``, ``StsTokenCredential``), or a
            :class:`~common_plugin.sources.client_key_signer.ClientKeySigner`.
        ca_file_path: the CA bundle to verify the gateway with; ``None`` follows aliyunsdkcore:
            ``ALIBABA_CLOUD_CA_BUNDLE`` when set, else the SDK's bundled CAs. Verification is never
            switched off here.
        timeout_seconds: the deadline of one request in total (connect, TLS handshake, sending and
            receiving), not of each socket read.
        sts_endpoint: where a ``RamRoleArnCredential`` sends AssumeRole (default: the SDK's
            resolution of ``sts.aliyuncs.com``); for private endpoints and the local emulator.
        allow_insecure_http: accept ``http://`` for ``endpoint`` and ``sts_endpoint`` (warned with
            :class:`~common_plugin.exceptions.InsecureTransportWarning`); refused without it.

    Raises:
        ConfigError: an ``http://`` endpoint without ``allow_insecure_http``.

    Thread-safe: AcsClient keeps no per-request state on the client.
    """

    def __init__(
        self,
        *,
        region_id: str,
        endpoint: str,
        credential: Any,
        ca_file_path: str | None = None,
        timeout_seconds: float = 10.0,
        sts_endpoint: str | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        from aliyunsdkcore.auth.credentials import AccessKeyCredential

        _check_plain_http(region_id, endpoint, sts_endpoint, allow_insecure_http)
        silence_sdk_wire_logging()
        self.region_id = region_id
        self.endpoint = endpoint
        self._signer: Any = None
        if isinstance(credential, ClientKeySigner):
            # AcsClient insists on a credential even when every request gets an explicit signer.
            self._signer, credential = credential, AccessKeyCredential("client-key", "unused")
        self._credential = credential
        self._ca_file_path = ca_file_path
        self._timeout_seconds = float(timeout_seconds)
        self._timeout = max(1, int(timeout_seconds))  # AcsClient's per-operation timeouts take ints
        self._sts_endpoint = sts_endpoint
        self._client = self._new_client()

    def _new_client(self) -> Any:
        from aliyunsdkcore.client import AcsClient

        # None (no kms_ca_file_path) is not "verify off": it leaves aliyunsdkcore to apply
        # ALIBABA_CLOUD_CA_BUNDLE per request, else its bundled CAs, as for any AcsClient.
        ca_file_path = self._ca_file_path
        client = AcsClient(
            region_id=self.region_id,
            credential=self._credential,
            auto_retry=False,
            verify=ca_file_path,
            timeout=self._timeout,
            connect_timeout=self._timeout,
        )
        if self._sts_endpoint:
            client.add_endpoint(self.region_id, "Sts", self._sts_endpoint)
        install_deadline_transport(client)
        return client

    def after_fork(self) -> None:
        # A new client: its connection pool would otherwise be shared with the parent process.
        self._client = self._new_client()

    def describe(self) -> str:
        return f"kms {self.region_id} {self.endpoint}"

    def _host_port(self) -> str:
        """``host:port`` the client connects to (HTTPS, so 443 unless the endpoint names a port)."""
        address = self.endpoint.split("://", 1)[-1].split("/", 1)[0]
        return address if ":" in address.rsplit("]", 1)[-1] else f"{address}:443"

    def _trust(self) -> str:
        """Which CA bundle verifies the gateway, for error messages (paths only, never contents)."""
        if self._ca_file_path:
            return f"kms_ca_file_path {self._ca_file_path}"
        bundle = os.environ.get(CA_BUNDLE_VARIABLE)
        if bundle:
            return f"{CA_BUNDLE_VARIABLE} {bundle}"
        return "aliyunsdkcore's bundled CAs"

    def _check_ca_bundle_variable(self, secret_name: str) -> None:
        """Refuse an ``ALIBABA_CLOUD_CA_BUNDLE`` that aliyunsdkcore would misuse, before it does.

        Read per request, as the SDK reads it. Empty: the SDK would switch verification off. A path
        that does not exist: the SDK reports only an ``SDK.HttpError`` that reads like a network error.
        """
        if self._ca_file_path or self.endpoint.startswith("http://"):  # plain HTTP: no certificates
            return
        bundle = os.environ.get(CA_BUNDLE_VARIABLE)
        if bundle is None or (bundle and os.path.exists(bundle)):
            return
        problem = (
            "is set but empty, which aliyunsdkcore takes as 'do not verify certificates'"
            if not bundle
            else f"names {bundle}, which does not exist"
        )
        raise SecretFetchError(
            f"KMS {self.describe()}: {CA_BUNDLE_VARIABLE} {problem}; set it to a CA bundle file, or "
            f"unset it, or set kms_ca_file_path (fetching {secret_name!r})",
            secret_name=secret_name,
            code="SDK.InvalidCaBundle",
            retryable=False,
        )

    def get_secret_value(self, secret_name: str) -> SecretValue:
        from aliyunsdkkms.request.v20160120.GetSecretValueRequest import GetSecretValueRequest

        request = GetSecretValueRequest()
        request.set_SecretName(secret_name)
        request.set_VersionStage("ACSCurrent")
        request.set_FetchExtendedConfig(True)
        request.set_accept_format("JSON")
        request.set_endpoint(self.endpoint)
        self._check_ca_bundle_variable(secret_name)
        try:
            with deadline_scope(self._timeout_seconds) as deadline:
                status, _headers, body, exception = self._client._implementation_of_do_action(
                    request, self._signer
                )
        except Exception as exc:  # noqa: BLE001 - ClientException (network, TLS) and anything else
            if time.monotonic() >= deadline:
                raise FetchDeadlineError(
                    f"KMS {self.describe()} did not answer GetSecretValue for {secret_name!r} within "
                    f"{self._timeout_seconds:g}s (request_timeout, or the rest of fetch_timeout); "
                    "check the endpoint and the network",
                    secret_name=secret_name,
                    timeout_seconds=self._timeout_seconds,
                ) from None
            code = getattr(exc, "error_code", None) or type(exc).__name__
            status = getattr(exc, "http_status", None)
            text = str(getattr(exc, "message", None) or exc)
            if any(marker in text for marker in _VERIFY_FAILED_MARKERS):
                raise SecretFetchError(
                    f"KMS {self.describe()}: certificate verify failed for {self._host_port()}; set "
                    f"kms_ca_file_path or {CA_BUNDLE_VARIABLE} to a CA bundle that trusts its "
                    f"certificate (now: {self._trust()}; fetching {secret_name!r})",
                    secret_name=secret_name,
                    code=str(code),
                    retryable=True,
                ) from None
            if code == "SDK.GetSessionCredentialFailed" or (isinstance(status, int) and 400 <= status < 500):
                # Raised, not returned: the signer's own AssumeRole (ram_role/sts) was refused.
                raise SecretFetchError(
                    f"KMS {self.describe()}: the bootstrap credential could not sign GetSecretValue for "
                    f"{secret_name!r} ({code}, HTTP {status}); check credentials_access_key_id, "
                    "credentials_access_secret and credentials_role_arn",
                    secret_name=secret_name,
                    code=str(code),
                    http_status=status if isinstance(status, int) else None,
                    retryable=isinstance(status, int) and (status >= 500 or status == 429),
                ) from None
            raise SecretFetchError(
                f"KMS {self.describe()} unreachable for secret {secret_name!r} ({code}); check the "
                "endpoint, the network and the CA bundle",
                secret_name=secret_name,
                code=str(code),
                retryable=True,
            ) from None
        if exception is not None:
            code = str(getattr(exception, "error_code", "") or "SDK.UnknownServerError")
            http_status = getattr(exception, "http_status", None) or status
            retryable = code in _RETRYABLE_CODES or (isinstance(http_status, int) and http_status >= 500)
            raise SecretFetchError(
                f"KMS {self.describe()} rejected GetSecretValue for {secret_name!r}: {code} "
                f"(HTTP {http_status})",
                secret_name=secret_name,
                code=code,
                http_status=http_status if isinstance(http_status, int) else None,
                retryable=retryable,
            )
        return _parse_body(secret_name, self.describe(), body)

    def close(self) -> None:
        session = getattr(self._client, "session", None)
        if session is not None:
            session.close()


def _check_plain_http(
    region_id: str, endpoint: str, sts_endpoint: str | None, allow_insecure_http: bool
) -> None:
    for what, url in (("KMS gateway endpoint", endpoint), ("sts_endpoint", sts_endpoint)):
        if not is_plain_http(url):
            continue
        if not allow_insecure_http:
            raise ConfigError(
                f"{what} of region {region_id} is plain http://, which would send secrets "
                "unencrypted; use https:// (or host[:port]), or, for a local emulator or test only, "
                "set allow_insecure_http=true",
                key="allow_insecure_http",
            )
        warn_insecure_transport(
            f"{what} {url} is plain http:// (allow_insecure_http=true): secrets cross the network "
            "unencrypted; use https outside local tests"
        )


def _parse_body(secret_name: str, where: str, body: Any) -> SecretValue:
    try:
        fields = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
        if not isinstance(fields, dict):
            raise ValueError("not a JSON object")
        return secret_value_from_fields(secret_name, fields)
    except (ValueError, TypeError, AttributeError, UnicodeDecodeError):
        raise SecretFetchError(
            f"KMS {where} answered GetSecretValue for {secret_name!r} with a body that is not the "
            "expected JSON; a proxy in between may be misbehaving",
            secret_name=secret_name,
            code="SDK.InvalidResponse",
            retryable=True,
        ) from None

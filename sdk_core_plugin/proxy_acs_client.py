"""``ProxyAcsClient``: an ``aliyunsdkcore`` ``AcsClient`` that signs with a managed RAM credential.

Each request is signed with the credential current at signing time (pulled from the provider, never
pushed into the client). When a call fails and the handler judges the error a rejected key, the
client retries once if :func:`common_plugin.retry.decide_retry` (the one retry decision) says so.

SDK internals (aliyun-python-sdk-core 2.16.1; listed with every other one we rely on in
``docs/sdk_hooks.md``, each pinned by a test that fails loudly if a newer SDK drops it): we override
``AcsClient._implementation_of_do_action(request, signer=None)``, the one method through which
``do_action_with_exception``, ``do_action`` and ``get_response`` all pass, and give it a signer
bound to one credential snapshot; and we set ``AcsClient._signer`` to ``None``, so nothing can sign
with the placeholder key.
"""

from __future__ import annotations

import logging
import threading
import warnings
from typing import TYPE_CHECKING, Any

from aliyunsdkcore.auth.signers.signer import Signer
from aliyunsdkcore.client import AcsClient

from common_plugin.ak_expire_handler import (
    RAM_KEY_REJECTED_CODES,
    STS_TOKEN_REJECTED_CODES,
    AKExpireHandler,
    ErrorCodeExpireHandler,
    as_expire_handler,
)
from common_plugin.exceptions import ProviderClosedError
from common_plugin.manager import default_manager
from common_plugin.masking import redact_exception, redact_secrets
from common_plugin.retry import decide_retry
from common_plugin.sources.sdk_logging import silence_sdk_wire_logging

if TYPE_CHECKING:  # the provider machinery loads with the first provider, not with this import
    from common_plugin.credentials import ManagedCredential
    from common_plugin.provider import CredentialsProvider

__all__ = ["ProxyAcsClient", "SdkCoreAKExpireHandler"]

_LOGGER = logging.getLogger(__name__)
_PLACEHOLDER = "managed-credentials-placeholder"  # noqa: S105 - never sent: our signer replaces it


class SdkCoreAKExpireHandler(ErrorCodeExpireHandler):
    """The default handler for aliyunsdkcore: ``InvalidAccessKeyId.NotFound``, ``InvalidAccessKeyId``
    and, for STS-token secrets, ``InvalidSecurityToken.Expired``."""

    def __init__(self, *extra_codes: str) -> None:
        super().__init__((*RAM_KEY_REJECTED_CODES, *STS_TOKEN_REJECTED_CODES, *extra_codes))


class _SnapshotSigner(Signer):  # type: ignore[misc]
    """Signs with one credential snapshot, so the id, secret and token come from one version."""

    def __init__(self, credential: ManagedCredential) -> None:
        self.credential = credential

    def sign(self, region_id: str, request: Any) -> tuple[dict[str, str], str]:
        cred = self.credential
        token = cred.security_token
        if request.get_style() == "RPC":
            params = request.get_query_params()
            if token:
                request.add_query_param("SecurityToken", token)
            elif params is not None:
                params.pop("SecurityToken", None)  # left by an earlier attempt with an STS key
        else:
            headers = request.get_headers()
            if token:
                request.add_header("x-acs-security-token", token)
            elif headers is not None:
                headers.pop("x-acs-security-token", None)
        header = request.get_signed_header(region_id, cred.access_key_id, cred.access_key_secret)
        url = request.get_url(region_id, cred.access_key_id, cred.access_key_secret)
        return header, url


_TOKEN_PARAM = "SecurityToken"  # noqa: S105 - a parameter name (RPC query)
_TOKEN_HEADER = "x-acs-security-token"  # noqa: S105 - a header name (ROA)
_TOKEN_NAMES = (_TOKEN_PARAM, _TOKEN_HEADER)
_ABSENT = object()


def _caller_tokens(request: Any) -> tuple[object, object]:
    """The token parameter and header the caller's request had before we signed it, if any."""
    params = request.get_query_params() or {}
    headers = request.get_headers() or {}
    return params.get(_TOKEN_PARAM, _ABSENT), headers.get(_TOKEN_HEADER, _ABSENT)


def _restore_caller_tokens(request: Any, before: tuple[object, object]) -> None:
    """Undo what signing wrote into the caller's request: the managed token (as a query parameter
    or a header) and, in the string to sign the SDK keeps on the request, its value."""
    for mapping, name, value in (
        (request.get_query_params(), _TOKEN_PARAM, before[0]),
        (request.get_headers(), _TOKEN_HEADER, before[1]),
    ):
        if mapping is None:
            continue
        if value is _ABSENT:
            mapping.pop(name, None)
        else:
            mapping[name] = value
    # A CommonRequest signs through the RpcRequest/RoaRequest it builds (its ``request``), which
    # shares its parameter and header dicts but keeps its own string to sign.
    signed_requests: tuple[Any, ...] = (request, getattr(request, "request", None))
    for signed in signed_requests:
        string_to_sign = getattr(signed, "string_to_sign", None)
        # Only a signed token needs redacting; the check spares every other call the full redaction.
        if isinstance(string_to_sign, str) and any(name in string_to_sign for name in _TOKEN_NAMES):
            signed.string_to_sign = redact_secrets(string_to_sign)


class ProxyAcsClient(AcsClient):  # type: ignore[misc]
    """A drop-in ``AcsClient`` whose key comes from a Secrets Manager managed RAM credential.

    Args:
        secret_name: the managed RAM credential secret to sign with.
        ak_expire_handler: judges whether an error means the key was rejected; an
            :class:`~common_plugin.ak_expire_handler.AKExpireHandler` or a callable. Default:
            :class:`SdkCoreAKExpireHandler`.
        provider: the credentials provider to use; default: a lease on the process-wide default
            provider built from ``managed_credentials_providers.properties``.
        Every other argument is ``AcsClient``'s. ``ak``, ``secret``, ``credential``,
        ``public_key_id`` and ``private_key`` are ignored (with a warning): the managed key signs.

    Thread-safe like ``AcsClient``. Call :meth:`shutdown` (or use ``with``) when done; it is
    idempotent and never stops refreshing for other clients.
    """

    def __init__(
        self,
        secret_name: str,
        ak_expire_handler: object | None = None,
        ak: str | None = None,
        secret: str | None = None,
        region_id: str = "cn-hangzhou",
        auto_retry: bool = True,
        max_retry_time: int | None = None,
        user_agent: str | None = None,
        port: int = 80,
        connect_timeout: int | None = None,
        timeout: int | None = None,
        public_key_id: str | None = None,
        private_key: str | None = None,
        session_period: int = 3600,
        credential: object | None = None,
        debug: bool = False,
        verify: bool | str | None = None,
        pool_size: int = 10,
        proxy: dict[str, str] | None = None,
        *,
        provider: CredentialsProvider | None = None,
    ) -> None:
        if not secret_name:
            raise ValueError("ProxyAcsClient needs secret_name, the managed RAM credential secret to use")
        silence_sdk_wire_logging()  # aliyunsdkcore logs the signed params, STS token included, at DEBUG
        if any(v is not None for v in (ak, secret, credential, public_key_id, private_key)):
            warnings.warn(
                "ProxyAcsClient signs with the managed credential; ak, secret, credential, public_key_id "
                "and private_key are ignored",
                UserWarning,
                stacklevel=2,
            )
        super().__init__(
            ak=_PLACEHOLDER,
            secret=_PLACEHOLDER,
            region_id=region_id,
            auto_retry=auto_retry,
            max_retry_time=max_retry_time,
            user_agent=user_agent,
            port=port,
            connect_timeout=connect_timeout,
            timeout=timeout,
            session_period=session_period,
            debug=debug,
            verify=verify,  # tls-opt-out: verify (the caller's own AcsClient argument, passed through)
            pool_size=pool_size,
            proxy=proxy,
        )
        self._secret_name = secret_name
        self._handler: AKExpireHandler = as_expire_handler(ak_expire_handler, SdkCoreAKExpireHandler())
        self._closed = False
        self._close_lock = threading.Lock()
        if provider is None:
            self._lease: Any = default_manager().lease()
            self._provider: CredentialsProvider = self._lease.provider
        else:
            self._lease = None
            self._provider = provider
        self._signer = None  # every request gets a snapshot signer; nothing signs with a stale key

    @property
    def secret_name(self) -> str:
        return self._secret_name

    @property
    def provider(self) -> CredentialsProvider:
        return self._provider

    def _current(self) -> ManagedCredential:
        if self._closed:
            raise ProviderClosedError("this ProxyAcsClient was shut down; create a new one")
        return self._provider.get(self._secret_name)

    def get_access_key(self) -> str:
        """The AccessKeyId of the current managed credential."""
        return self._current().access_key_id

    def get_access_secret(self) -> str:
        """The AccessKeySecret of the current managed credential (handle with care: never log it)."""
        return self._current().access_key_secret

    def _implementation_of_do_action(self, request: Any, signer: Any = None) -> Any:
        # What leaves this client carries no token: the SDK's exception (returned by this hook and
        # raised by the public methods; its message may hold the server's string to sign) and the
        # caller's request, into which the signer wrote the token.
        before = _caller_tokens(request)
        try:
            result = self._signed_with_retry(request, signer)
        except Exception as error:
            redact_exception(error)
            raise
        finally:
            _restore_caller_tokens(request, before)
        if result[3] is not None:
            redact_exception(result[3])
        return result

    def _signed_with_retry(self, request: Any, signer: Any) -> Any:
        if signer is not None:  # an explicit signer from the caller wins, as in AcsClient
            return super()._implementation_of_do_action(request, signer)
        used = self._current()
        result = super()._implementation_of_do_action(request, _SnapshotSigner(used))
        exception = result[3]
        if exception is None:
            return result
        fresh = decide_retry(
            self._provider, self._secret_name, used, exception, self._handler, what=request.get_action_name()
        )
        if fresh is None:
            return result
        # The request object is re-signed from scratch by the snapshot signer: nothing to rewind.
        return super()._implementation_of_do_action(request, _SnapshotSigner(fresh))

    def shutdown(self) -> None:
        """Release this client's hold on the provider and close its HTTP session. Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        if self._lease is not None:
            self._lease.release()
        self.session.close()

    def __enter__(self) -> ProxyAcsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"ProxyAcsClient(secret_name={self._secret_name!r}, region_id={self.get_region_id()!r})"

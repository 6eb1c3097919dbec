"""Managed credentials for Tea / OpenAPI V2 SDKs (``alibabacloud_*`` clients) and their one retry.

Every generated V2 client takes ``Config(credential=alibabacloud_credentials.client.Client(...))`` and
asks it for a key on *every* request (``alibabacloud_tea_openapi`` 0.4.6, ``do_request``; pinned, see
``docs/sdk_hooks.md``). So an ``ICredentialsProvider`` (``alibabacloud_credentials_api``) backed by
our provider is all it takes for a rotated key to reach the next request, with no client rebuilt::

    credentials = TeaCredentialsProvider(provider, "app-ak")
    config = open_api_models.Config(credential=credentials.credential_client(), region_id="cn-hangzhou")
    sts = Sts20150401Client(config)

That gives proactive refresh. A key revoked before we noticed is rejected with
``InvalidAccessKeyId.NotFound`` (or ``InvalidSecurityToken.Expired``); the Tea client raises it as a
``ClientException`` whose ``code`` is that string. :func:`call_with_refresh` (and its async twin), or
the :class:`RefreshingTeaClient` wrapper that applies it to every method, then ask the one retry
decision (:func:`common_plugin.retry.decide_retry` and its twin
:func:`~common_plugin.adapters.aio.decide_retry_async`): refresh once (single-flight), retry once if
the key changed, else re-raise the original error. The snapshot a request was signed with is
recorded by :class:`TeaCredentialsProvider` for the duration of the call, so the provider is told
exactly which key was rejected.

Replay: a call is retried with the same arguments. A file-like argument (or a file-like attribute of
a request model) that is seekable is rewound first; one that is not seekable makes the call
non-replayable, and the original error is raised (the provider still replaced the key, so the next
call signs with the new one).

Thread- and task-safety: everything here is safe to share between threads and tasks; the per-call
record lives in a :mod:`contextvars` variable, so concurrent calls never see each other's snapshot.
The async methods never block the event loop (see :mod:`common_plugin.adapters.aio`).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from alibabacloud_credentials_api import ICredentials, ICredentialsProvider

from ..ak_expire_handler import (
    RAM_KEY_REJECTED_CODES,
    STS_TOKEN_REJECTED_CODES,
    AKExpireHandler,
    ErrorCodeExpireHandler,
    as_expire_handler,
)
from ..credentials import ManagedCredential
from ..masking import redact_exception
from ..provider import CredentialsProvider
from ..retry import decide_retry
from .aio import async_provider, decide_retry_async

__all__ = [
    "RefreshingTeaClient",
    "TeaAKExpireHandler",
    "TeaCredentialsProvider",
    "call_with_refresh",
    "call_with_refresh_async",
]

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")
PROVIDER_NAME = "managed_credentials"


class TeaAKExpireHandler(ErrorCodeExpireHandler):
    """The default judgement for Tea clients: a ``TeaException``/``ClientException`` whose ``code`` is
    ``InvalidAccessKeyId.NotFound``, ``InvalidAccessKeyId`` or ``InvalidSecurityToken.Expired``
    (plus ``extra_codes``). Thread-safe: immutable."""

    def __init__(self, *extra_codes: str) -> None:
        super().__init__((*RAM_KEY_REJECTED_CODES, *STS_TOKEN_REJECTED_CODES, *extra_codes))


class _TeaCredentials(ICredentials):  # type: ignore[misc]
    """One snapshot in the shape Tea wants; the secret and token stay out of ``repr``."""

    __slots__ = ("_credential", "_provider_name")

    def __init__(self, credential: ManagedCredential, provider_name: str) -> None:
        self._credential = credential
        self._provider_name = provider_name

    def get_access_key_id(self) -> str:
        return self._credential.access_key_id

    def get_access_key_secret(self) -> str:
        return self._credential.access_key_secret

    def get_security_token(self) -> str:
        return self._credential.security_token or ""

    def get_provider_name(self) -> str:
        return self._provider_name

    def __repr__(self) -> str:
        return f"TeaCredentials(access_key_id={self._credential.masked_access_key_id!r})"


class _CallRecord:
    """What one call signed with; shared by reference, so a child task's update is seen too."""

    __slots__ = ("owner", "used")

    def __init__(self, owner: TeaCredentialsProvider) -> None:
        self.owner = owner
        self.used: ManagedCredential | None = None


_CURRENT_CALL: contextvars.ContextVar[_CallRecord | None] = contextvars.ContextVar(
    "managed_credentials_tea_call", default=None
)


class TeaCredentialsProvider(ICredentialsProvider):  # type: ignore[misc]
    """An ``alibabacloud_credentials_api.ICredentialsProvider`` serving one managed RAM credential.

    Args:
        provider: the cache the key is read from (one lock-free lookup per request).
        secret_name: the managed RAM credential secret.
        provider_name: what :meth:`get_provider_name` answers (sent by Tea clients in the
            ``x-acs-credentials-provider`` header).

    Thread-safe; :meth:`get_credentials_async` never blocks the event loop.
    """

    def __init__(
        self, provider: CredentialsProvider, secret_name: str, *, provider_name: str = PROVIDER_NAME
    ) -> None:
        if not secret_name:
            raise ValueError("TeaCredentialsProvider needs secret_name, a managed RAM credential secret")
        self._provider = provider
        self._secret_name = secret_name
        self._provider_name = provider_name
        # The last conversion, replaced as one tuple so readers never mix two versions.
        self._converted: tuple[ManagedCredential, _TeaCredentials] | None = None

    @property
    def provider(self) -> CredentialsProvider:
        return self._provider

    @property
    def secret_name(self) -> str:
        return self._secret_name

    def _convert(self, credential: ManagedCredential) -> _TeaCredentials:
        record = _CURRENT_CALL.get()
        if record is not None and record.owner is self:
            record.used = credential
        converted = self._converted
        if converted is not None and converted[0] is credential:
            return converted[1]
        result = _TeaCredentials(credential, self._provider_name)
        self._converted = (credential, result)
        return result

    def get_credentials(self) -> ICredentials:
        """Tea's hook: the key to sign one request with.

        Raises:
            SecretFetchError, MalformedSecretError, ProviderClosedError: as
                :meth:`CredentialsProvider.get`.
        """
        return self._convert(self._provider.get(self._secret_name))

    async def get_credentials_async(self) -> ICredentials:
        """The async hook: a cache hit returns at once; a miss fetches in a worker thread."""
        return self._convert(await async_provider(self._provider).get(self._secret_name))

    def get_provider_name(self) -> str:
        return self._provider_name

    def credential_client(self) -> Any:
        """An ``alibabacloud_credentials.client.Client`` over this provider: ``Config(credential=...)``."""
        from alibabacloud_credentials.client import Client

        return Client(provider=self)

    def __repr__(self) -> str:
        return f"TeaCredentialsProvider(secret_name={self._secret_name!r})"


# -- the one retry ------------------------------------------------------------------------------


def _streams(args: Iterable[object]) -> list[Any]:
    """File-like objects among ``args`` and the attributes of model arguments (one level down)."""
    found: list[Any] = []
    for arg in args:
        candidates = [arg]
        attributes = getattr(arg, "__dict__", None)
        if isinstance(attributes, dict):
            candidates.extend(attributes.values())
        found.extend(c for c in candidates if callable(getattr(c, "read", None)))
    return found


def _capture(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Callable[[], bool]:
    """Record stream positions before the first attempt; the result rewinds them (False: cannot)."""
    positions: list[tuple[Any, int]] = []
    replayable = True
    for stream in _streams((*args, *kwargs.values())):
        try:
            if not stream.seekable():
                replayable = False
                continue
            positions.append((stream, stream.tell()))
        except Exception:  # noqa: BLE001 - a stream that cannot tell its position cannot be replayed
            replayable = False

    def rewind() -> bool:
        if not replayable:
            return False
        try:
            for stream, position in positions:
                stream.seek(position)
        except Exception:  # noqa: BLE001
            return False
        return True

    return rewind


def call_with_refresh(
    credentials: TeaCredentialsProvider,
    call: Callable[..., T],
    *args: Any,
    ak_expire_handler: object | None = None,
    **kwargs: Any,
) -> T:
    """``call(*args, **kwargs)``; if it fails with a rejected key, refresh once and retry once.

    Args:
        credentials: the provider the client behind ``call`` signs with.
        call: a Tea client method (or any callable that makes one request with ``credentials``).
        ak_expire_handler: judges the error; default :class:`TeaAKExpireHandler`.

    Raises:
        Whatever ``call`` raises: the original error when it is not a rejected key, when no different
        key could be had, or when the arguments cannot be replayed; the retry's error otherwise.
    """
    handler = as_expire_handler(ak_expire_handler, _DEFAULT_HANDLER)
    record = _CallRecord(credentials)
    before = credentials.provider.peek(credentials.secret_name)
    rewind = _capture(args, kwargs)
    token = _CURRENT_CALL.set(record)
    try:
        try:
            return call(*args, **kwargs)
        except Exception as exc:
            used = record.used or before
            if used is None:
                raise  # never signed through us: nothing of ours to replace
            fresh = decide_retry(
                credentials.provider, credentials.secret_name, used, exc, handler, what=_name(call),
                rewind=rewind,
            )
            if fresh is None:
                raise
        return call(*args, **kwargs)
    except Exception as error:
        redact_exception(error)  # a server's error message may echo the request's token
        raise
    finally:
        _CURRENT_CALL.reset(token)


async def call_with_refresh_async(
    credentials: TeaCredentialsProvider,
    call: Callable[..., Awaitable[T]],
    *args: Any,
    ak_expire_handler: object | None = None,
    **kwargs: Any,
) -> T:
    """The async twin of :func:`call_with_refresh` (for ``*_async`` client methods).

    The refresh after a rejection runs in a worker thread, shared by every task and thread that saw
    the same key rejected; the event loop is never blocked.
    """
    handler = as_expire_handler(ak_expire_handler, _DEFAULT_HANDLER)
    record = _CallRecord(credentials)
    before = credentials.provider.peek(credentials.secret_name)
    rewind = _capture(args, kwargs)
    token = _CURRENT_CALL.set(record)
    try:
        try:
            return await call(*args, **kwargs)
        except Exception as exc:
            used = record.used or before
            if used is None:
                raise  # never signed through us: nothing of ours to replace
            fresh = await decide_retry_async(
                credentials.provider, credentials.secret_name, used, exc, handler, what=_name(call),
                rewind=rewind,
            )
            if fresh is None:
                raise
        return await call(*args, **kwargs)
    except Exception as error:
        redact_exception(error)  # a server's error message may echo the request's token
        raise
    finally:
        _CURRENT_CALL.reset(token)


def _name(call: Callable[..., object]) -> str:
    return getattr(call, "__name__", "a call")


_DEFAULT_HANDLER: AKExpireHandler = TeaAKExpireHandler()


class RefreshingTeaClient:
    """Wraps any Tea / ``alibabacloud_*`` client so each public method call follows the retry rule.

        sts = RefreshingTeaClient(Sts20150401Client(config), credentials)
        sts.get_caller_identity()                 # call_with_refresh
        await sts.get_caller_identity_async()     # call_with_refresh_async

    Args:
        client: the Tea client, configured with ``credentials.credential_client()``.
        credentials: the :class:`TeaCredentialsProvider` it signs with.
        ak_expire_handler: judges errors; default :class:`TeaAKExpireHandler`.

    Attributes that are not methods, and names starting with ``_``, pass through unchanged.
    Thread- and task-safe as far as the wrapped client is.
    """

    def __init__(
        self,
        client: Any,
        credentials: TeaCredentialsProvider,
        *,
        ak_expire_handler: object | None = None,
    ) -> None:
        self._client = client
        self._credentials = credentials
        self._handler = as_expire_handler(ak_expire_handler, _DEFAULT_HANDLER)

    @property
    def client(self) -> Any:
        """The wrapped client."""
        return self._client

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name.startswith("_") or not callable(attribute):
            return attribute
        if inspect.iscoroutinefunction(attribute):

            @functools.wraps(attribute)
            async def async_method(*args: Any, **kwargs: Any) -> Any:
                return await call_with_refresh_async(
                    self._credentials, attribute, *args, ak_expire_handler=self._handler, **kwargs
                )

            return async_method

        @functools.wraps(attribute)
        def method(*args: Any, **kwargs: Any) -> Any:
            return call_with_refresh(
                self._credentials, attribute, *args, ak_expire_handler=self._handler, **kwargs
            )

        return method

    def __repr__(self) -> str:
        return f"RefreshingTeaClient({type(self._client).__name__}, {self._credentials!r})"

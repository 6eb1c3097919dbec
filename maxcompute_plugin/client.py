"""``ProxyOdps``: an ``odps.ODPS`` entry object that signs with a managed RAM credential and retries once.

PyODPS sends every REST call of an ``ODPS`` object through one ``RestClient.request(url, method,
stream=False, **kwargs)`` (its own attempts after a 502/503/504 or a connection error, and its v4 to
v2 signature fallback, happen inside it), and ``ODPS(..., rest_client_cls=...)`` chooses that class.
:class:`ManagedRestClient` overrides ``request`` (checked against pyodps 0.13.2; listed in
docs/sdk_hooks.md and pinned by tests/test_maxcompute_hooks.py): one ``request`` is one operation,
pinned to the snapshot it started with; when it fails with a rejected key, the one retry decision
(:func:`common_plugin.retry.decide_retry`) names the key to send it once more with.

Not retried: tunnel uploads and downloads (PyODPS builds their ``RestClient`` itself). They still
sign every request with the current key, through the account.
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import urlsplit

from odps import ODPS
from odps.errors import ODPSError
from odps.rest import RestClient

from common_plugin.adapters.pinned import call_with_one_retry, rewinder_for
from common_plugin.provider import CredentialsProvider

from .account import ManagedOdpsAccount

__all__ = ["ManagedRestClient", "ProxyOdps"]

T = TypeVar("T", bound="ProxyOdps")


class ManagedRestClient(RestClient):  # type: ignore[misc]
    """PyODPS's ``RestClient`` with the one retry after a rejected key, when its account is a
    :class:`~maxcompute_plugin.ManagedOdpsAccount` (any other account: unchanged). Thread-safe."""

    def request(self, url: str, method: str, stream: bool = False, **kwargs: Any) -> Any:
        account = self.account
        send = super().request
        if not isinstance(account, ManagedOdpsAccount):
            return send(url, method, stream=stream, **kwargs)
        return call_with_one_retry(
            account.pins,
            lambda: send(url, method, stream=stream, **kwargs),
            errors=ODPSError,
            handler=account.ak_expire_handler,
            what=f"a {method.upper()} {urlsplit(url).path} request",
            rewind=rewinder_for(kwargs.get("data")),
        )


class ProxyOdps(ODPS):  # type: ignore[misc]
    """A drop-in ``odps.ODPS`` whose key comes from a Secrets Manager managed RAM credential.

    Args:
        secret_name: the managed RAM credential secret (in place of ``access_id`` and
            ``secret_access_key``).
        project, endpoint: as ``ODPS`` (e.g. ``"http://service.cn-hangzhou.maxcompute.aliyun.com/api"``).
        provider: the credentials provider; default: a lease on the process-wide default provider,
            released by :meth:`shutdown`.
        ak_expire_handler: judges whether an error means the key was rejected; default
            :class:`~maxcompute_plugin.MaxComputeAKExpireHandler`.
        **kwargs: the other ``ODPS`` arguments (``region_name``, ``tunnel_endpoint``, ``schema``,
            ``overwrite_global``, ...).

    Raises:
        ValueError: no secret name. TypeError: ``ak_expire_handler`` is neither a handler nor a callable.
        SecretFetchError: the secret cannot be loaded (PyODPS reads the AccessKeyId when built).

    Like ``ODPS`` it makes itself PyODPS's global entry (``options.account``) unless
    ``overwrite_global=False``. Thread-safe as ``ODPS`` is. Call :meth:`shutdown` (or use ``with``).
    """

    def __init__(
        self,
        secret_name: str,
        project: str | None = None,
        endpoint: str | None = None,
        *,
        provider: CredentialsProvider | None = None,
        ak_expire_handler: object | None = None,
        **kwargs: Any,
    ) -> None:
        account = ManagedOdpsAccount(secret_name, provider=provider, ak_expire_handler=ak_expire_handler)
        kwargs.setdefault("rest_client_cls", ManagedRestClient)
        try:
            super().__init__(account, project=project, endpoint=endpoint, **kwargs)
        except BaseException:
            account.close()
            raise
        self._managed_account = account

    @property
    def secret_name(self) -> str:
        """The managed RAM credential secret this client signs with."""
        return self._managed_account.secret_name

    @property
    def provider(self) -> CredentialsProvider:
        """The credentials provider this client reads from."""
        return self._managed_account.provider

    def shutdown(self) -> None:
        """Release this client's lease. Idempotent; never stops refreshing for other clients.

        Later requests (of this object, and of objects PyODPS derived from its account) raise
        :class:`~common_plugin.exceptions.ProviderClosedError`.
        """
        self._managed_account.close()

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return (
            f"ProxyOdps(secret_name={self.secret_name!r}, project={self.project!r}, "
            f"endpoint={self.endpoint!r})"
        )

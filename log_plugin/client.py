"""``ProxyLogClient``: an ``aliyun.log.LogClient`` that signs with a managed RAM credential.

Every request pulls the key at signing time through the SDK's ``credentials_provider`` seam
(:class:`~log_plugin.ManagedLogCredentialsProvider`); nothing is pushed into the client. When Log
Service rejects the key, the client asks the one retry decision
(:func:`common_plugin.retry.decide_retry`) and, if it names a different key and the body can be
re-sent, sends the request exactly once more.

SDK hook: we override ``LogClient._send(method, project, body, resource, params, headers,
respons_body_type='json', compute_content_hash=True)``, through which every request of the client
passes (checked against aliyun-log-python-sdk 0.9.52; listed in docs/sdk_hooks.md and pinned by
tests/test_sdk_hooks.py). One ``_send`` is one operation: the SDK's own attempts inside it (after a
5xx or a connection error) sign with the same pinned snapshot, and the retry after a rejected key is
made once per operation. Paged reads (``get_log`` with a large ``size``, ``get_log_all``) make one
operation per page.
"""

from __future__ import annotations

from typing import Any, TypeVar

from aliyun.log import LogClient
from aliyun.log.logexception import LogException

from common_plugin.adapters.pinned import ClientLease, call_with_one_retry, rewinder_for
from common_plugin.ak_expire_handler import AKExpireHandler, as_expire_handler
from common_plugin.provider import CredentialsProvider

from .credentials_provider import ManagedLogCredentialsProvider
from .handler import LogAKExpireHandler

__all__ = ["AUTH_VERSIONS", "ProxyLogClient"]

T = TypeVar("T", bound="ProxyLogClient")
AUTH_VERSIONS = ("v1", "v4")


class ProxyLogClient(LogClient):
    """A drop-in ``aliyun.log.LogClient`` whose key comes from a Secrets Manager managed RAM credential.

    Args:
        secret_name: the managed RAM credential secret to sign with.
        endpoint, source: as ``LogClient`` (e.g. ``"cn-hangzhou.log.aliyuncs.com"``).
        auth_version: ``"v1"`` (the SDK's default) or ``"v4"`` (needs ``region``).
        region: the region of the project, for v4.
        ak_expire_handler: judges whether an error means the key was rejected: an
            :class:`~common_plugin.ak_expire_handler.AKExpireHandler`, an object with
            ``judge_ak_expire``, or a callable. Default: :class:`~log_plugin.LogAKExpireHandler`.
        provider: the credentials provider; default: a lease on the process-wide default provider
            (:func:`common_plugin.manager.default_manager`), released by :meth:`shutdown`.

    Raises:
        ValueError: no secret name, an unknown ``auth_version``, or v4 without a region.
        TypeError: ``ak_expire_handler`` is neither a handler nor a callable.

    Thread-safe like ``LogClient``: one instance may serve many threads. Call :meth:`shutdown` (or
    use ``with``) when done; it is idempotent and never stops refreshing for other clients.
    """

    def __init__(
        self,
        secret_name: str,
        endpoint: str,
        source: str | None = None,
        auth_version: str = "v1",
        region: str = "",
        *,
        ak_expire_handler: object | None = None,
        provider: CredentialsProvider | None = None,
    ) -> None:
        if not secret_name:
            raise ValueError("ProxyLogClient needs secret_name, the managed RAM credential secret to use")
        if auth_version not in AUTH_VERSIONS:
            raise ValueError(f"auth_version must be one of {AUTH_VERSIONS!r}")
        if auth_version == "v4" and not region:
            raise ValueError(
                "auth_version='v4' signs with the region: pass region, e.g. region='cn-hangzhou'"
            )
        handler = as_expire_handler(ak_expire_handler, LogAKExpireHandler())
        lease = ClientLease(provider, type(self).__name__)
        try:
            credentials = ManagedLogCredentialsProvider(lease.provider, secret_name)
            super().__init__(
                endpoint,
                source=source,
                auth_version=auth_version,
                region=region,
                credentials_provider=credentials,
            )
        except BaseException:
            lease.close()
            raise
        self._managed_lease = lease
        self._managed_credentials = credentials
        self._managed_handler = handler
        self._managed_endpoint = endpoint

    @property
    def secret_name(self) -> str:
        """The managed RAM credential secret this client signs with."""
        return self._managed_credentials.secret_name

    @property
    def provider(self) -> CredentialsProvider:
        """The credentials provider this client reads from."""
        return self._managed_lease.provider

    @property
    def credentials_provider(self) -> ManagedLogCredentialsProvider:
        """The ``aliyun.log`` credentials provider this client signs with."""
        return self._managed_credentials

    @property
    def ak_expire_handler(self) -> AKExpireHandler:
        """The handler that judges rejected-key errors."""
        return self._managed_handler

    def _send(
        self,
        method: str,
        project: str,
        body: Any,
        resource: str,
        params: Any,
        headers: Any,
        respons_body_type: str = "json",
        compute_content_hash: bool = True,
    ) -> Any:
        # The aliyun.log request hook (see the module docstring); super() is LogClient's.
        self._managed_lease.check_open()
        send = super()._send  # type: ignore[misc]  # private: not in the SDK's stubs

        def attempt() -> Any:
            return send(
                method, project, body, resource, params, headers, respons_body_type, compute_content_hash
            )

        return call_with_one_retry(
            self._managed_credentials.pins,
            attempt,
            errors=LogException,
            handler=self._managed_handler,
            what=f"a {method} {resource} request to project {project!r}",
            rewind=rewinder_for(body),
        )

    def shutdown(self) -> None:
        """Release this client's lease and close its HTTP session. Idempotent.

        Never stops refreshing for other clients; a provider passed in stays open. Later requests raise
        :class:`~common_plugin.exceptions.ProviderClosedError`.
        """
        if self._managed_lease.close():
            session = getattr(self, "_session", None)  # LogClient's requests.Session (0.9.52)
            if session is not None:
                session.close()

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"ProxyLogClient(secret_name={self.secret_name!r}, endpoint={self._managed_endpoint!r})"

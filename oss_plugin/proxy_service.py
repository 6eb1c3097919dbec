"""``ProxyService``: an ``oss2.Service`` (``list_buckets`` and other account-level calls) that signs
with a managed RAM credential.

Same design and the same request hook as :class:`~oss_plugin.ProxyBucket`: we override
``oss2.api._Base._do(self, method, bucket_name, key, **kwargs)`` once, in
``_retry.ManagedClientMixin`` (oss2 2.19.1; see ``docs/sdk_hooks.md``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import oss2

from common_plugin.ak_expire_handler import as_expire_handler

from ._retry import ManagedCaller, ManagedClientMixin, check_auth_version, make_auth

if TYPE_CHECKING:
    from common_plugin.provider import CredentialsProvider
from .handler import OssAKExpireHandler

__all__ = ["ProxyService"]


class ProxyService(ManagedClientMixin, oss2.Service):  # type: ignore[misc]
    """A drop-in ``oss2.Service`` whose key comes from a Secrets Manager managed RAM credential.

    Args:
        secret_name: the managed RAM credential secret to sign with.
        endpoint, session, connect_timeout, app_name, proxies, region, cloudbox_id, is_path_style:
            as ``oss2.Service``.
        ak_expire_handler: judges whether an error means the key was rejected (an
            :class:`~common_plugin.ak_expire_handler.AKExpireHandler` or a callable). Default:
            :class:`~oss_plugin.OssAKExpireHandler`.
        auth_version: ``"v1"`` (default) or ``"v4"`` (needs ``region``).
        provider: the credentials provider; default: a lease on the process-wide default provider,
            released by :meth:`shutdown`.

    Raises:
        ValueError: no secret name, an unknown ``auth_version``, or v4 without a region.
        TypeError: ``ak_expire_handler`` is neither a handler nor a callable.

    Thread-safe like ``oss2.Service``. Call :meth:`shutdown` (or use ``with``) when done; it is
    idempotent and never stops refreshing for other clients.
    """

    def __init__(
        self,
        secret_name: str,
        endpoint: str,
        session: Any = None,
        connect_timeout: float | None = None,
        app_name: str = "",
        proxies: dict[str, str] | None = None,
        region: str | None = None,
        cloudbox_id: str | None = None,
        is_path_style: bool = False,
        ak_expire_handler: object | None = None,
        *,
        auth_version: str = "v1",
        provider: CredentialsProvider | None = None,
    ) -> None:
        handler = as_expire_handler(ak_expire_handler, OssAKExpireHandler())
        check_auth_version(auth_version, region)
        caller = ManagedCaller(secret_name, handler, provider, type(self).__name__)
        try:
            super().__init__(
                make_auth(caller.credentials, auth_version),
                endpoint,
                session=session or oss2.Session(),
                connect_timeout=connect_timeout,
                app_name=app_name,
                proxies=proxies,
                region=region,
                cloudbox_id=cloudbox_id,
                is_path_style=is_path_style,
            )
        except BaseException:
            caller.close()
            raise
        self._caller = caller
        self._owns_session = session is None

    def __repr__(self) -> str:
        return f"ProxyService(secret_name={self._caller.secret_name!r}, endpoint={self.endpoint!r})"

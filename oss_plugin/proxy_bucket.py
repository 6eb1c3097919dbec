"""``ProxyBucket``: an ``oss2.Bucket`` that signs with a managed RAM credential.

Every request pulls the key at signing time through ``oss2``'s credentials-provider seam
(``oss2.ProviderAuth(ManagedOssCredentialsProvider(...))``); nothing is pushed into the client.
When OSS rejects the key, the bucket asks the provider for one single-flight refresh and, if the key
changed and the body can be re-sent, retries the request once (see :mod:`oss_plugin._retry`).

SDK hook: we override ``oss2.api._Base._do(self, method, bucket_name, key, **kwargs)``, the method
through which every signed ``Bucket`` request passes (defined once in ``_retry.ManagedClientMixin``;
checked against oss2 2.19.1). It and the body-adapter internals the retry rewinds are listed in
``docs/sdk_hooks.md`` and pinned by ``tests/test_oss_hooks.py``.
Pre-signed URLs (``sign_url``) and ``put_object_with_url`` use the current key but are not retried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import oss2

from common_plugin.ak_expire_handler import as_expire_handler

from ._retry import ManagedCaller, ManagedClientMixin, check_auth_version, make_auth

if TYPE_CHECKING:
    from common_plugin.provider import CredentialsProvider
from .handler import OssAKExpireHandler

__all__ = ["ProxyBucket"]


class ProxyBucket(ManagedClientMixin, oss2.Bucket):  # type: ignore[misc]
    """A drop-in ``oss2.Bucket`` whose key comes from a Secrets Manager managed RAM credential.

    The positional arguments are those of the suite we replace; the keyword-only ones add what it
    did not expose.

    Args:
        secret_name: the managed RAM credential secret to sign with.
        endpoint, bucket_name, is_cname, session, connect_timeout, app_name, enable_crc, proxies,
            region, cloudbox_id: as ``oss2.Bucket``.
        ak_expire_handler: judges whether an error means the key was rejected: an
            :class:`~common_plugin.ak_expire_handler.AKExpireHandler`, an object with
            ``judge_ak_expire``, or a callable. Default: :class:`~oss_plugin.OssAKExpireHandler`.
        is_path_style, is_verify_object_strict: as ``oss2.Bucket``.
        auth_version: ``"v1"`` (``oss2.ProviderAuth``, the default) or ``"v4"``
            (``oss2.ProviderAuthV4``; needs ``region``).
        provider: the credentials provider; default: a lease on the process-wide default provider
            (:func:`common_plugin.manager.default_manager`), released by :meth:`shutdown`.

    Raises:
        ValueError: no secret name, an unknown ``auth_version``, or v4 without a region.
        TypeError: ``ak_expire_handler`` is neither a handler nor a callable.
        oss2.exceptions.ClientError: an invalid endpoint or bucket name (as ``oss2.Bucket``).

    Thread-safe like ``oss2.Bucket``: one instance may serve many threads. Call :meth:`shutdown` (or
    use ``with``) when done; it is idempotent and never stops refreshing for other clients.
    """

    def __init__(
        self,
        secret_name: str,
        endpoint: str,
        bucket_name: str,
        is_cname: bool = False,
        session: Any = None,
        connect_timeout: float | None = None,
        app_name: str = "",
        enable_crc: bool = True,
        proxies: dict[str, str] | None = None,
        region: str | None = None,
        cloudbox_id: str | None = None,
        ak_expire_handler: object | None = None,
        *,
        is_path_style: bool = False,
        is_verify_object_strict: bool = True,
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
                bucket_name,
                is_cname=is_cname,
                session=session or oss2.Session(),
                connect_timeout=connect_timeout,
                app_name=app_name,
                enable_crc=enable_crc,
                proxies=proxies,
                region=region,
                cloudbox_id=cloudbox_id,
                is_path_style=is_path_style,
                is_verify_object_strict=is_verify_object_strict,
            )
        except BaseException:
            caller.close()
            raise
        self._caller = caller
        self._owns_session = session is None

    def __repr__(self) -> str:
        return (
            f"ProxyBucket(secret_name={self._caller.secret_name!r}, endpoint={self.endpoint!r}, "
            f"bucket_name={self.bucket_name!r})"
        )


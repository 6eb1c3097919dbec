"""A PyODPS account that signs every request with the current key of a managed RAM credential.

PyODPS asks its account to sign each request it sends (``account.sign_request(req, endpoint,
region_name)``, from ``RestClient._request``; every REST and tunnel request). ``ManagedOdpsAccount``
pulls the current snapshot there and signs with the SDK's own ``CloudAccount`` for that snapshot (v2
``ODPS <id>:<sig>``, or v4 when the client has a region), adding ``authorization-sts-token`` for an
STS key as ``StsAccount`` does. So a rotated key reaches the next request without rebuilding the
``ODPS`` object.

Why not PyODPS's ``CredentialProviderAccount`` with an ``alibabacloud_credentials``-style provider
(``common_plugin.adapters.tea.TeaCredentialsProvider`` fits it): in 0.13.2 it keeps the old secret
and token when a new key arrives under the *same* AccessKeyId (``_refresh_credential`` returns early
on an equal id), reads ``ODPS_STS_*`` environment variables when built, and shares one mutable
id/secret between threads, so it cannot say which snapshot a rejected request was signed with.

Thread-safe; a pin (see :attr:`ManagedOdpsAccount.pins`) belongs to the thread that set it.
"""

from __future__ import annotations

from typing import Any

from odps.accounts import BaseAccount, CloudAccount

from common_plugin.adapters.pinned import ClientLease, PinnedCredentials
from common_plugin.ak_expire_handler import AKExpireHandler, as_expire_handler
from common_plugin.credentials import ManagedCredential
from common_plugin.provider import CredentialsProvider

from .handler import MaxComputeAKExpireHandler

__all__ = ["ManagedOdpsAccount"]

STS_TOKEN_HEADER = "authorization-sts-token"  # noqa: S105 - a header name, not a secret


class ManagedOdpsAccount(BaseAccount):  # type: ignore[misc]
    """A PyODPS account backed by a Secrets Manager managed RAM credential.

    Args:
        secret_name: the managed RAM credential secret to sign with.
        provider: the credentials provider; default: a lease on the process-wide default provider,
            released by :meth:`close`.
        ak_expire_handler: judges whether an error means the key was rejected (used by
            :class:`~maxcompute_plugin.ManagedRestClient`); default
            :class:`~maxcompute_plugin.MaxComputeAKExpireHandler`.

    Use it with ``odps.ODPS(account, project=..., endpoint=..., rest_client_cls=ManagedRestClient)``,
    or let :class:`~maxcompute_plugin.ProxyOdps` do that. Thread-safe.
    """

    def __init__(
        self,
        secret_name: str,
        *,
        provider: CredentialsProvider | None = None,
        ak_expire_handler: object | None = None,
    ) -> None:
        if not secret_name:
            raise ValueError("ManagedOdpsAccount needs secret_name, the managed RAM credential secret to use")
        handler = as_expire_handler(ak_expire_handler, MaxComputeAKExpireHandler())
        self._lease = ClientLease(provider, type(self).__name__)
        self._pins = PinnedCredentials(self._lease.provider, secret_name)
        self._handler = handler
        # The signer of the last snapshot, replaced as one tuple so readers never mix two versions.
        self._signer: tuple[ManagedCredential, CloudAccount] | None = None

    @property
    def secret_name(self) -> str:
        return self._pins.secret_name

    @property
    def provider(self) -> CredentialsProvider:
        return self._lease.provider

    @property
    def pins(self) -> PinnedCredentials:
        """The per-thread pin :class:`~maxcompute_plugin.ManagedRestClient` scopes its one retry with."""
        return self._pins

    @property
    def ak_expire_handler(self) -> AKExpireHandler:
        return self._handler

    @property
    def access_id(self) -> str:
        """The current AccessKeyId (PyODPS keys some caches by ``account.access_id``)."""
        return self._pins.current().access_key_id

    def sign_request(self, req: Any, endpoint: str, region_name: str | None = None) -> None:
        """PyODPS's hook: sign ``req`` with this thread's pinned snapshot, or the current one.

        Raises:
            ProviderClosedError: :meth:`close` ran.
            SecretFetchError, MalformedSecretError: the secret could not be loaded.
        """
        self._lease.check_open()
        credential = self._pins.current()
        signer = self._signer
        if signer is None or signer[0] is not credential:
            signer = (credential, CloudAccount(credential.access_key_id, credential.access_key_secret))
            self._signer = signer
        signer[1].sign_request(req, endpoint, region_name=region_name)
        if credential.security_token:
            req.headers[STS_TOKEN_HEADER] = credential.security_token

    def close(self) -> None:
        """Release the lease (if one was taken). Idempotent; later requests raise ProviderClosedError."""
        self._lease.close()

    def __reduce__(self) -> Any:
        raise TypeError("a ManagedOdpsAccount holds a live provider and cannot be pickled")

    def __repr__(self) -> str:
        return f"ManagedOdpsAccount(secret_name={self.secret_name!r})"

"""An ``oss2`` credentials provider that serves a managed RAM credential.

``oss2.ProviderAuth`` (and ``ProviderAuthV4``) call ``get_credentials()`` once per signed request
(docs/protocols.md section 3), so a rotated key reaches the very next request without
touching the client. Usable on its own with any ``oss2.Bucket``::

    auth = oss2.ProviderAuth(ManagedOssCredentialsProvider(provider, "app-oss-ak"))
    bucket = oss2.Bucket(auth, endpoint, "my-bucket")

That gives proactive refresh only; :class:`~oss_plugin.ProxyBucket` adds the retry after a rejected
key, for which it *pins* the snapshot a request is signed with (see :meth:`pinned`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import oss2

from common_plugin.credentials import ManagedCredential
from common_plugin.sources.sdk_logging import silence_sdk_wire_logging

if TYPE_CHECKING:
    from common_plugin.provider import CredentialsProvider

__all__ = ["ManagedOssCredentialsProvider"]


class ManagedOssCredentialsProvider(oss2.credentials.CredentialsProvider):  # type: ignore[misc]
    """Gives ``oss2`` the current key of one managed RAM credential secret.

    Args:
        provider: the cache the key is read from (one lock-free lookup per request).
        secret_name: the managed RAM credential secret.

    Thread-safe. The pin set by :meth:`pinned` is per thread, so concurrent requests on one client
    each sign with their own snapshot.
    """

    def __init__(self, provider: CredentialsProvider, secret_name: str) -> None:
        if not secret_name:
            raise ValueError("ManagedOssCredentialsProvider needs secret_name, a managed RAM credential")
        silence_sdk_wire_logging()  # oss2 logs request headers, STS token included, at DEBUG
        self._provider = provider
        self._secret_name = secret_name
        self._local = threading.local()
        # The last conversion, replaced as one tuple so readers never mix two versions.
        self._converted: tuple[ManagedCredential, oss2.credentials.Credentials] | None = None

    @property
    def secret_name(self) -> str:
        return self._secret_name

    def current(self) -> ManagedCredential:
        """The snapshot the next request in this thread would be signed with.

        Raises:
            SecretFetchError, MalformedSecretError, ProviderClosedError: as
                :meth:`CredentialsProvider.get <common_plugin.provider.CredentialsProvider.get>`.
        """
        pinned: ManagedCredential | None = getattr(self._local, "pinned", None)
        if pinned is not None:
            return pinned
        return self._provider.get(self._secret_name)

    def get_credentials(self) -> oss2.credentials.Credentials:
        """``oss2``'s hook: the key to sign one request with (the pinned one, if any)."""
        credential = self.current()
        converted = self._converted
        if converted is not None and converted[0] is credential:
            return converted[1]
        result = oss2.credentials.Credentials(
            credential.access_key_id, credential.access_key_secret, credential.security_token or ""
        )
        self._converted = (credential, result)
        return result

    @contextmanager
    def pinned(self, credential: ManagedCredential) -> Iterator[ManagedCredential]:
        """Make this thread's requests sign with ``credential`` until the block ends.

        Nests: the previous pin (if any) is restored on exit.
        """
        previous: ManagedCredential | None = getattr(self._local, "pinned", None)
        self._local.pinned = credential
        try:
            yield credential
        finally:
            self._local.pinned = previous

    def __repr__(self) -> str:
        return f"ManagedOssCredentialsProvider(secret_name={self._secret_name!r})"

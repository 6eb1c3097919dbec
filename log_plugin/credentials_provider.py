"""A Log Service credentials provider that serves a managed RAM credential.

``LogClient(..., credentials_provider=...)`` asks ``get_credentials()`` on every request it signs (v1
and v4 alike; ``aliyun/log/auth.py``, 0.9.52), for an object with ``get_access_key_id()``,
``get_access_key_secret()`` and ``get_security_token()`` (``aliyun.log.credentials.Credentials``). So a
rotated key reaches the very next request without touching the client. Usable on its own::

    credentials = ManagedLogCredentialsProvider(provider, "app-sls-ak")
    client = LogClient(endpoint, credentials_provider=credentials)

That gives proactive refresh only; :class:`~log_plugin.ProxyLogClient` adds the retry after a rejected
key, for which it pins the snapshot each request signs with.
"""

from __future__ import annotations

from aliyun.log.credentials import Credentials, CredentialsProvider

from common_plugin.adapters.pinned import PinnedCredentials
from common_plugin.credentials import ManagedCredential
from common_plugin.provider import CredentialsProvider as ManagedProvider

__all__ = ["ManagedLogCredentialsProvider"]


class ManagedLogCredentialsProvider(CredentialsProvider):
    """Gives ``aliyun.log`` the current key of one managed RAM credential secret.

    Args:
        provider: the cache the key is read from (one lock-free lookup per request).
        secret_name: the managed RAM credential secret.

    Thread-safe; a pin (see :attr:`pins`) belongs to the thread that set it.
    """

    def __init__(self, provider: ManagedProvider, secret_name: str) -> None:
        self._pins = PinnedCredentials(provider, secret_name)
        # The last conversion, replaced as one tuple so readers never mix two versions.
        self._converted: tuple[ManagedCredential, Credentials] | None = None

    @property
    def secret_name(self) -> str:
        return self._pins.secret_name

    @property
    def pins(self) -> PinnedCredentials:
        """The per-thread pin :class:`~log_plugin.ProxyLogClient` uses to scope its one retry."""
        return self._pins

    def get_credentials(self) -> Credentials:
        """The SDK's hook: the key to sign one request with (the pinned one, if any).

        Raises:
            SecretFetchError, MalformedSecretError, ProviderClosedError: as
                :meth:`CredentialsProvider.get <common_plugin.provider.CredentialsProvider.get>`.
        """
        credential = self._pins.current()
        converted = self._converted
        if converted is not None and converted[0] is credential:
            return converted[1]
        result = Credentials(
            credential.access_key_id, credential.access_key_secret, credential.security_token
        )
        self._converted = (credential, result)
        return result

    def __repr__(self) -> str:
        return f"ManagedLogCredentialsProvider(secret_name={self.secret_name!r})"

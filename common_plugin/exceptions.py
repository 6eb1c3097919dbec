"""Exceptions raised by the managed-credentials suite.

Every error we raise derives from one root, and those that describe bad input also derive from
``ValueError`` so existing ``except ValueError`` handlers keep working::

    ManagedCredentialsError
    ├── ConfigError(ManagedCredentialsError, ValueError)     bad properties, missing file, wrong password
    ├── MalformedSecretError(ManagedCredentialsError, ValueError)
    │                                                        the secret is not a managed RAM credential
    ├── SecretFetchError                                     GetSecretValue failed (after failover)
    └── ProviderClosedError(ManagedCredentialsError, RuntimeError)
                                                             the provider was shut down

Messages name the key, file or secret and the fix; they never contain a secret value, password or
private key. Errors raised by the cloud SDKs during business calls pass through unchanged.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "MalformedSecretError",
    "ManagedCredentialsError",
    "ProviderClosedError",
    "SecretFetchError",
]


class ManagedCredentialsError(Exception):
    """Root of every exception this suite raises itself."""


class ConfigError(ManagedCredentialsError, ValueError):
    """The configuration is invalid.

    Attributes:
        key: the property key (or ``None`` when the whole file is at fault).
        path: the file involved, if any.
    """

    def __init__(self, message: str, *, key: str | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.path = path


class MalformedSecretError(ManagedCredentialsError, ValueError):
    """A secret's value cannot be used as a managed RAM credential."""

    def __init__(self, message: str, *, secret_name: str | None = None) -> None:
        super().__init__(message)
        self.secret_name = secret_name


class SecretFetchError(ManagedCredentialsError):
    """GetSecretValue failed.

    Attributes:
        secret_name: the secret asked for.
        code: the service's error code (``Forbidden.ResourceNotFound``, ``Rejected.Throttling``,
            ``SDK.HttpError`` ...) or ``None`` when unknown.
        http_status: the HTTP status when the server answered, else ``None``.
        retryable: whether another attempt (or another instance) may succeed: network errors,
            5xx and throttling are retryable; a missing secret or a rejected client key is not.
    """

    def __init__(
        self,
        message: str,
        *,
        secret_name: str | None = None,
        code: str | None = None,
        http_status: int | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.secret_name = secret_name
        self.code = code
        self.http_status = http_status
        self.retryable = retryable

    @property
    def throttled(self) -> bool:
        """True when the service throttled the request."""
        return bool(self.code) and "Throttling" in str(self.code)


class ProviderClosedError(ManagedCredentialsError, RuntimeError):
    """The provider (or the client holding it) has been shut down."""

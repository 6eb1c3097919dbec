"""Exceptions raised by the managed-credentials suite.

Every error we raise derives from one root, and those that describe bad input also derive from
``ValueError`` so existing ``except ValueError`` handlers keep working::

    ManagedCredentialsError
    ├── ConfigError(ManagedCredentialsError, ValueError)     bad properties, missing file, wrong password
    ├── MalformedSecretError(ManagedCredentialsError, ValueError)
    │                                                        the secret is not a managed RAM credential
    ├── SecretFetchError                                     GetSecretValue failed (after failover)
    │   ├── FetchDeadlineError                               ... because its time ran out: one
    │   │                                                    request (request_timeout) or the
    │   │                                                    whole fetch (fetch_timeout)
    │   └── CredentialExpiredError                           the cached STS token has expired and
    │                                                        no fresh key could be fetched
    └── ProviderClosedError(ManagedCredentialsError, RuntimeError)
                                                             the provider was shut down

And one warning, issued through :mod:`warnings` (and logged) so that an application that has not
configured logging still sees it::

    InsecureTransportWarning(UserWarning)                   TLS is off or unverified for an endpoint

Messages name the key, file or secret and the fix; they never contain a secret value, password or
private key. Errors raised by the cloud SDKs during business calls pass through unchanged.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "CredentialExpiredError",
    "FetchDeadlineError",
    "InsecureTransportWarning",
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


class FetchDeadlineError(SecretFetchError):
    """GetSecretValue ran out of time: one request exceeded ``request_timeout`` in total (connect,
    TLS handshake, sending and receiving together, however slowly the server trickles its answer),
    or the whole fetch (every attempt and the backoff between them) exceeded ``fetch_timeout``.

    ``code`` is ``"DeadlineExceeded"`` and ``retryable`` is true: another source, or a later
    fetch, may answer in time.

    Attributes:
        timeout_seconds: the deadline that was exceeded, in seconds.
    """

    def __init__(
        self,
        message: str,
        *,
        secret_name: str | None = None,
        timeout_seconds: float,
        retryable: bool = True,
    ) -> None:
        super().__init__(message, secret_name=secret_name, code="DeadlineExceeded", retryable=retryable)
        self.timeout_seconds = timeout_seconds


class CredentialExpiredError(SecretFetchError):
    """The cached credential's STS token has passed its ``ExpireTimestamp`` and fetching a fresh one
    failed, so :meth:`~common_plugin.provider.CredentialsProvider.get` refuses to hand out a key the
    cloud would reject. The cause (the failed fetch) is chained as ``__cause__``.

    Attributes:
        expired_at: the token's ``ExpireTimestamp``, epoch seconds.
    """

    def __init__(
        self,
        message: str,
        *,
        secret_name: str | None = None,
        expired_at: float,
        code: str | None = None,
        http_status: int | None = None,
        retryable: bool = True,
    ) -> None:
        super().__init__(
            message, secret_name=secret_name, code=code, http_status=http_status, retryable=retryable
        )
        self.expired_at = expired_at


class ProviderClosedError(ManagedCredentialsError, RuntimeError):
    """The provider (or the client holding it) has been shut down."""


class InsecureTransportWarning(UserWarning):
    """An endpoint is used without TLS (``http://``, allowed by ``allow_insecure_http=true``) or
    without certificate verification (``ignoreSslCerts=true``): secrets cross the network readable
    or unauthenticated. Issued once per endpoint under the default warning filters; escalate it with
    ``warnings.simplefilter("error", InsecureTransportWarning)`` to refuse such configurations."""

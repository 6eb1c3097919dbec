"""The secret-source interface: one GetSecretValue, whatever service answers it."""

from __future__ import annotations

import abc

from ..credentials import SecretValue

__all__ = ["SecretSource"]


class SecretSource(abc.ABC):
    """Fetches the ACSCurrent version of a secret.

    Contract:
        * ``get_secret_value`` is thread-safe and may block on the network (never on a lock held
          by a reader of cached credentials).
        * It raises :class:`~common_plugin.exceptions.SecretFetchError` for every failure, with
          ``retryable`` set for network errors, 5xx and throttling, and a message that names the
          secret and the endpoint but never the secret's value.
        * It does not cache: caching is the provider's job.
        * Nothing it does may let an SDK's DEBUG logging print the SecretData.
    """

    @abc.abstractmethod
    def get_secret_value(self, secret_name: str) -> SecretValue:
        """Return the current value of ``secret_name`` (stage ACSCurrent, with ExtendedConfig)."""

    def describe(self) -> str:
        """A short, secret-free description for logs and errors (e.g. ``dkms cn-hangzhou 127.0.0.1:4433``)."""
        return type(self).__name__

    def stats(self) -> dict[str, int]:
        """Request-level counters (e.g. ``requests``, ``request_failures``), if the source keeps any."""
        return {}

    def after_fork(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """In a forked child: drop pooled connections shared with the parent, and locks."""

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release sessions and connections. Idempotent."""

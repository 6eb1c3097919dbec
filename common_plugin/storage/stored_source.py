"""A secret source seen through the optional on-disk store: how the provider obtains a snapshot.

Without a store, :meth:`StoredSource.fetch` is one ``GetSecretValue`` parsed into a
:class:`~common_plugin.credentials.ManagedCredential`. With one (``cache_dir``), it first takes the
store's cross-process lock of the secret, re-reads the stored value and uses it if it may stand in
for a fetch (see :meth:`StoredSource.usable`); otherwise it fetches and writes the result back.
The lock deliberately spans the fetch: that is what makes N worker processes refreshing after a
rotation fetch once per host (the first fetches, the others read what it wrote). It is held for
at most one fetch, which the source's own deadline bounds; no in-process lock is held across it
(the provider's single-flight already lets one thread per secret fetch).

Thread-safe: stateless apart from its collaborators, which are thread-safe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..clock import Clock
from ..credentials import ManagedCredential, same_key
from ..exceptions import MalformedSecretError
from ..sources.base import SecretSource

if TYPE_CHECKING:
    from .disk_cache import SecretStore  # only with cache_dir: cryptography stays unloaded without

__all__ = ["StoredSource"]

_LOGGER = logging.getLogger(__name__)

Freshness = Callable[[ManagedCredential, float], bool]
"""``is_fresh(credential, now)``: whether a value fetched earlier may still be served now."""

Lookup = Callable[[], "ManagedCredential | None"]


def _none() -> ManagedCredential | None:
    return None


class StoredSource:
    """``source`` with ``store`` (if any) in front of it.

    Args:
        source: where secrets are fetched from.
        store: the cross-process cache, or ``None``.
        clock: the time source (epoch seconds) for ``fetched_at`` and freshness.
        is_fresh: whether a stored value is still fresh (the refresh policy's judgement).
    """

    def __init__(
        self, source: SecretSource, store: SecretStore | None, clock: Clock, is_fresh: Freshness
    ) -> None:
        self.source = source
        self.store = store
        self._clock = clock
        self._is_fresh = is_fresh

    def fetch(
        self,
        name: str,
        *,
        reason: str,
        current: Lookup = _none,
        rejected: Lookup = _none,
    ) -> tuple[ManagedCredential, bool]:
        """The snapshot to install for ``name``, and whether it came from the store.

        Args:
            name: the secret.
            reason: why it is needed: ``initial``, ``proactive``, ``forced`` or ``reactive``.
            current: the snapshot this process serves now, if any.
            rejected: the last key a cloud API rejected, which the store must never bring back.
                Both are read when a stored value is judged, after the wait for the lock, so a
                rejection reported meanwhile counts.

        Raises:
            SecretFetchError, MalformedSecretError: from the source.
        """
        store = self.store
        if store is None:
            value = self.source.get_secret_value(name)
            return ManagedCredential.from_secret_value(value, fetched_at=self._clock.time()), False
        with store.locked(name):  # another process may be fetching this secret: wait, then re-read
            stored = store.load(name)
            if stored is not None:
                try:
                    cached = ManagedCredential.from_secret_value(stored.value, fetched_at=stored.fetched_at)
                except MalformedSecretError:
                    cached = None
                if cached is not None and self.usable(cached, reason, current(), rejected()):
                    return cached, True
            value = self.source.get_secret_value(name)
            fetched_at = self._clock.time()
            cred = ManagedCredential.from_secret_value(value, fetched_at=fetched_at)
            store.save(name, value, fetched_at)
            return cred, False

    def usable(
        self,
        cached: ManagedCredential,
        reason: str,
        current: ManagedCredential | None,
        rejected: ManagedCredential | None,
    ) -> bool:
        """Whether a value another process (or an earlier run) stored may stand in for a fetch:
        fresh, not a forced refresh, never a key a cloud API rejected, and for a proactive refresh
        newer than what this process holds."""
        if reason == "forced" or not self._is_fresh(cached, self._clock.time()):
            return False
        if rejected is not None and same_key(cached, rejected):
            return False
        if reason == "proactive":
            return current is None or cached.fetched_at > current.fetched_at
        return True

    def discard(self, name: str) -> None:
        """Take ``name`` out of the store (a rejected key), so no process or restart brings it back."""
        if self.store is not None:
            self.store.discard(name)

    def after_fork(self) -> None:
        """In a forked child: reset the source's pooled connections and the store's locks."""
        self.source.after_fork()
        if self.store is not None:
            self.store.after_fork()

    def __repr__(self) -> str:
        return f"StoredSource({self.source.describe()!r}, store={self.store!r})"

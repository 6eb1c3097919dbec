"""The rejection gate of :class:`~common_plugin.provider.CredentialsProvider`: replacing a rejected key.

When a cloud API rejects a key, every thread that saw it calls :meth:`RejectionGate.refresh_rejected`
with the exact snapshot it used; the gate lets at most one fetch through per rejected key:

* a key already replaced (someone fetched meanwhile) is answered from the cache, without a fetch;
* otherwise one thread leads a reactive fetch and the others join it;
* a fetch that brings back the rejected key again *suppresses* further reactive fetches for that
  key for ``policy.rejected_backoff_seconds`` (no loop while Secrets Manager still serves it);
* a fetch that fails *drops* the rejected key from the cache (and from the on-disk store), so the
  next ``get`` fetches synchronously and raises if that fails, rather than serving a dead key.

The outcome (drop or suppress) is applied in the critical section that ends the flight, so no
thread can slip in between and start a second fetch for the same rejection.

Private: the provider's :meth:`~CredentialsProvider.refresh_rejected` delegates here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ._secret_state import SecretState
from ._snapshot_cache import SnapshotCache
from .clock import Clock
from .credentials import ManagedCredential, same_key
from .refresh_policy import RefreshPolicy

__all__ = ["RejectionGate"]

_LOGGER = logging.getLogger(__name__)


class RejectionGate:
    """Lets one reactive fetch through per rejected key.

    Args:
        cache: the snapshots and their single-flight fetch.
        clock: the time source (epoch seconds) of the suppression window.
        policy: gives ``rejected_backoff_seconds``.
        discard: takes a dropped key's secret out of the on-disk store.

    Thread-safe.
    """

    def __init__(
        self, cache: SnapshotCache, clock: Clock, policy: RefreshPolicy, discard: Callable[[str], None]
    ) -> None:
        self._cache = cache
        self._clock = clock
        self._policy = policy
        self._discard = discard

    def refresh_rejected(self, secret_name: str, rejected: ManagedCredential) -> ManagedCredential | None:
        """See :meth:`CredentialsProvider.refresh_rejected <common_plugin.provider.CredentialsProvider>`."""
        cache = self._cache
        state = cache.state(secret_name)
        # At most two rounds: a fetch joined mid-flight may have started before the key was
        # rejected (a proactive refresh) and so bring back the old version; then fetch once more.
        for _ in range(2):
            with state.lock:
                current = cache.snapshots.get(secret_name)
                if current is not None and not same_key(current, rejected):
                    return current  # someone already replaced it: no fetch
                if self._suppressed(state, rejected):
                    return None
                state.rejected = rejected  # never to be brought back from the on-disk cache
                flight, leader = cache.join_or_lead(state, rejected)
            if leader:
                cache.lead(
                    state, flight, reason="reactive", rejected=rejected, settle=self._settler(rejected)
                )
            try:
                cred = flight.wait()
            except Exception:
                # A joiner of someone else's fetch applies the rejection outcome itself (idempotent).
                with state.lock:
                    after = self._settle_failure(state, rejected)
                if after is not None:
                    after()
                return None
            if not same_key(cred, rejected):
                return cred
            if flight.for_rejected is None or not same_key(flight.for_rejected, rejected):
                continue  # an older fetch answered with the old version: ask again, for this rejection
            with state.lock:
                first = self._suppress(state, rejected)
            if first:
                self._log_still_current(state, rejected)
            return None
        return None

    # -- outcomes (called with state.lock held; each returns what to do once it is released) -------

    def _settler(
        self, rejected: ManagedCredential
    ) -> Callable[[SecretState, ManagedCredential | None], Callable[[], None] | None]:
        def settle(state: SecretState, result: ManagedCredential | None) -> Callable[[], None] | None:
            if result is None:
                return self._settle_failure(state, rejected)
            if same_key(result, rejected) and self._suppress(state, rejected):
                return lambda: self._log_still_current(state, rejected)
            return None

        return settle

    def _settle_failure(self, state: SecretState, rejected: ManagedCredential) -> Callable[[], None] | None:
        """The replacement could not be fetched: drop the rejected key, suppress refetching it."""
        dropped = self._drop(state, rejected)
        self._suppress(state, rejected)
        return (lambda: self._after_drop(state, rejected)) if dropped else None

    def _suppressed(self, state: SecretState, rejected: ManagedCredential) -> bool:
        return (
            state.suppressed_key is not None
            and same_key(state.suppressed_key, rejected)
            and self._clock.time() < state.suppressed_until
        )

    def _suppress(self, state: SecretState, rejected: ManagedCredential) -> bool:
        """Suppress reactive fetches for ``rejected``; True if not already suppressed."""
        if self._suppressed(state, rejected):
            return False
        state.suppressed_key = rejected
        state.suppressed_until = self._clock.time() + self._policy.rejected_backoff_seconds
        return True

    def _drop(self, state: SecretState, rejected: ManagedCredential) -> bool:
        """Drop the cached key if it is the rejected one; True if dropped."""
        current = self._cache.snapshots.get(state.name)
        if current is None or not same_key(current, rejected):
            return False
        del self._cache.snapshots[state.name]
        return True

    # -- after the lock ------------------------------------------------------------------------

    def _after_drop(self, state: SecretState, rejected: ManagedCredential) -> None:
        """A rejected key was dropped (its replacement could not be fetched): log it, and take it
        out of the on-disk cache too, so neither a restart nor another process brings it back."""
        _LOGGER.warning(
            "secret %s: AccessKeyId %s was rejected and fetching a new one failed; "
            "dropped from the cache, the next use fetches again",
            state.name,
            rejected.masked_access_key_id,
        )
        self._discard(state.name)

    def _log_still_current(self, state: SecretState, rejected: ManagedCredential) -> None:
        _LOGGER.warning(
            "secret %s: AccessKeyId %s was rejected but is still the current version; "
            "not fetching it again for %.0f s",
            state.name,
            rejected.masked_access_key_id,
            self._policy.rejected_backoff_seconds,
        )

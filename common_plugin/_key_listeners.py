"""The key-change listeners of :class:`~common_plugin.provider.CredentialsProvider` (private).

After a fetch installs a snapshot whose key differs from the one before (AccessKeyId, secret or
token), the change is logged (DEBUG for the first load, one INFO line per rotation, key ids masked)
and each subscribed listener is called with ``(secret_name, old, new)``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from .credentials import ManagedCredential, same_key

__all__ = ["KeyListeners", "Listener"]

_LOGGER = logging.getLogger(__name__)

Listener = Callable[[str, "ManagedCredential | None", ManagedCredential], None]
"""``listener(secret_name, old, new)``: a new key was installed (``old`` is ``None`` on the first fetch)."""


@dataclass(frozen=True, eq=False)
class _Subscription:
    listener: Listener
    secret_name: str | None


class KeyListeners:
    """Subscriptions, and the notification of each key change.

    Thread-safe: subscribing takes a lock; notifying reads an immutable tuple and holds no lock, so
    a listener may subscribe, unsubscribe or call back into the provider.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: tuple[_Subscription, ...] = ()

    def add(self, listener: Listener, secret_name: str | None = None) -> Callable[[], None]:
        """Subscribe ``listener`` (to one secret, or every one); returns an idempotent unsubscribe."""
        sub = _Subscription(listener, secret_name)
        with self._lock:
            self._subscriptions = (*self._subscriptions, sub)

        def unsubscribe() -> None:
            with self._lock:
                self._subscriptions = tuple(s for s in self._subscriptions if s is not sub)

        return unsubscribe

    def installed(self, name: str, old: ManagedCredential | None, new: ManagedCredential) -> None:
        """A snapshot was installed: if its key changed, log it and call the listeners.

        A listener's exception is logged at WARNING and ignored.
        """
        if old is not None and same_key(old, new):
            return
        if old is None:
            _LOGGER.debug(
                "secret %s loaded: AccessKeyId %s, version %s", name, new.masked_access_key_id, new.version_id
            )
        else:
            _LOGGER.info(
                "secret %s rotated: AccessKeyId %s -> %s, version %s",
                name,
                old.masked_access_key_id,
                new.masked_access_key_id,
                new.version_id,
            )
        for sub in self._subscriptions:
            if sub.secret_name is not None and sub.secret_name != name:
                continue
            try:
                sub.listener(name, old, new)
            except Exception:
                _LOGGER.warning("a listener raised for secret %s; ignored", name, exc_info=True)

    def reset_after_fork(self) -> None:
        """In a forked child: a fresh lock (the parent's may be held by a thread that is gone)."""
        self._lock = threading.Lock()

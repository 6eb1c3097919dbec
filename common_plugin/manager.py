"""The process-wide default provider, shared by clients built with only a secret name.

``ProxyAcsClient(secret_name=...)``-style clients do not receive a provider; they take a lease on
the default one::

    lease = default_manager().lease()      # creates the provider on first use
    cred = lease.provider.get(secret_name)
    ...
    lease.release()                        # idempotent; the last lease closes the provider

The provider is created lazily by a replaceable factory (:func:`set_default_provider_factory`) and
closed when its last lease is released; a later lease creates a new one, so one client's shutdown
never stops another's refreshes. Everything here is thread-safe, and after ``os.fork()`` the child
gets fresh locks (the provider itself restarts its refreshes on the child's scheduler).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from ._fork import on_fork_reset
from .exceptions import ProviderClosedError

if TYPE_CHECKING:  # the provider is imported by the factory, with the first lease
    from .provider import CredentialsProvider

__all__ = [
    "ProviderLease",
    "ProviderManager",
    "default_manager",
    "set_default_provider_factory",
]

_LOGGER = logging.getLogger(__name__)

ProviderFactory = Callable[[], "CredentialsProvider"]


class ProviderLease:
    """One client's hold on a shared provider. Thread-safe; :meth:`release` is idempotent."""

    def __init__(self, manager: ProviderManager, provider: CredentialsProvider) -> None:
        self._manager = manager
        self._provider = provider
        self._released = False
        self._lock = threading.Lock()

    @property
    def provider(self) -> CredentialsProvider:
        """The leased provider (do not close it yourself).

        Raises:
            ProviderClosedError: the lease has been released.
        """
        if self._released:
            raise ProviderClosedError("this provider lease has been released")
        return self._provider

    @property
    def released(self) -> bool:
        """Whether :meth:`release` has been called."""
        return self._released

    def release(self) -> None:
        """Give the provider back; the last lease closes it. Calling it again does nothing."""
        with self._lock:
            if self._released:
                return
            self._released = True
        self._manager.release(self._provider)

    def __enter__(self) -> ProviderLease:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class ProviderManager:
    """Creates a provider on first acquire, shares it, and closes it when the last holder releases it.

    Thread-safe. The manager's lock guards only the current provider and its reference count and
    is never held while the factory runs (a factory may read files and, if it likes, the network):
    the first acquirer builds the provider outside the lock and installs it under the lock;
    concurrent first acquirers wait for that build (on an event, not on the lock) and share its
    provider, while releases and leases of a provider that already exists go on unhindered. A
    factory that raises leaves nothing behind: the next acquire calls it again.

    Args:
        factory: builds a provider (configuration → sources → provider).
    """

    def __init__(self, factory: ProviderFactory) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._provider: CredentialsProvider | None = None
        self._refs = 0
        self._building: threading.Event | None = None  # set while a first acquirer runs the factory
        _LIVE_MANAGERS.add(self)

    def set_factory(self, factory: ProviderFactory) -> None:
        """Replace the factory. A provider already created keeps serving until its last release."""
        with self._lock:
            self._factory = factory

    def acquire(self) -> CredentialsProvider:
        """Return the shared provider, creating it if needed, and add one reference.

        Each call must be matched by exactly one :meth:`release`; prefer :meth:`lease`, whose
        release is idempotent.

        Raises:
            Whatever the factory raises (for the default factory, ConfigError on a bad or missing
                configuration file).
        """
        while True:
            with self._lock:
                provider = self._provider
                if provider is not None and not provider.closed:
                    self._refs += 1
                    return provider
                building = self._building
                if building is None:
                    building = self._building = threading.Event()
                    factory = self._factory
                    break
            building.wait()  # another acquirer is building it: share its result (or try again)
        try:
            built = factory()  # outside the lock: an unrelated release or lease never waits for it
        except BaseException:
            with self._lock:
                self._building = None
            building.set()
            raise
        with self._lock:
            self._building = None
            self._provider, self._refs = built, 1
        building.set()
        return built

    def release(self, provider: CredentialsProvider) -> None:
        """Drop one reference to ``provider``; the last one closes it.

        Releasing a provider that is no longer the current one (already closed) does nothing.
        """
        with self._lock:
            if provider is not self._provider:
                _LOGGER.debug("release of a provider that is no longer current; ignored")
                return
            self._refs -= 1
            if self._refs > 0:
                return
            self._provider, self._refs = None, 0
        provider.close()  # outside the lock: closing never blocks another client's acquire

    def lease(self) -> ProviderLease:
        """Acquire the shared provider wrapped in a lease whose release is idempotent."""
        return ProviderLease(self, self.acquire())

    def peek(self) -> CredentialsProvider | None:
        """The current provider, if one exists; never creates one."""
        return self._provider

    @property
    def reference_count(self) -> int:
        """The number of unreleased acquisitions of the current provider."""
        return self._refs

    def _after_fork_in_child(self) -> None:
        # A build in progress belongs to a thread that does not exist in the child.
        self._lock = threading.Lock()
        self._building = None


def _configured_factory() -> CredentialsProvider:
    """Build the default provider from ``managed_credentials_providers.properties`` (or the file
    named with ``ConfigLoader.set_config_name``); imported lazily so importing this module reads
    no file."""
    from .bootstrap import build_default_provider

    return build_default_provider()


_LIVE_MANAGERS: weakref.WeakSet[ProviderManager] = weakref.WeakSet()
_DEFAULT_MANAGER = ProviderManager(_configured_factory)


def default_manager() -> ProviderManager:
    """The process-wide manager used by clients that are given only a secret name."""
    return _DEFAULT_MANAGER


def set_default_provider_factory(factory: ProviderFactory) -> None:
    """Set how the default provider is built; takes effect at its next creation."""
    _DEFAULT_MANAGER.set_factory(factory)


def _reset_after_fork() -> None:
    for manager in list(_LIVE_MANAGERS):
        manager._after_fork_in_child()


on_fork_reset(_reset_after_fork)

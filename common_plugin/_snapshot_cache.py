"""The snapshot cache of :class:`~common_plugin.provider.CredentialsProvider`, fetched single-flight.

One immutable :class:`~common_plugin.credentials.ManagedCredential` per secret in a plain dict, so
reading is one lock-free lookup. Fetching is single-flight per secret: the first thread that needs
a fetch leads it (a :class:`~common_plugin._secret_state.Flight`), the others wait for its result;
different secrets never wait for each other. The leader installs the result and ends the flight in
one critical section of the secret's lock, so a thread deciding under that lock whether to fetch
sees either the flight or its result, never neither. No lock is held across the fetch itself.

Private: the provider wires it to the rejection gate, the refresh chain and the listeners.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable

from ._secret_state import Flight, SecretState
from .clock import Clock
from .credentials import ManagedCredential
from .exceptions import ProviderClosedError
from .observability import Telemetry
from .storage.stored_source import StoredSource

__all__ = ["AfterInstall", "Settle", "SnapshotCache"]

_LOGGER = logging.getLogger(__name__)
_STATE_IDS = itertools.count(1)

AfterInstall = Callable[[SecretState, "ManagedCredential | None", ManagedCredential], None]
"""``after_install(state, old, new)``: run by a fetch's leader, outside every lock, after ``new``
became visible to readers (``old``: the key installed before, ``None`` on the first fetch)."""

Settle = Callable[[SecretState, "ManagedCredential | None"], "Callable[[], None] | None"]
"""``settle(state, result)``: run with ``state.lock`` held as a flight ends (``result`` is ``None``
when the fetch failed); may return a function to run once the lock is released."""


class SnapshotCache:
    """Snapshots and per-secret state, and the single-flight fetch that fills them.

    Args:
        obtain: how a snapshot is obtained (the source, behind the on-disk store if any).
        telemetry: records each fetch's outcome.
        clock: the time source (epoch seconds).
        job_prefix: the prefix of each secret's refresh-job id.
        after_install: see :data:`AfterInstall`.
        stamp: applied to each fetched snapshot before it is installed (the provider precomputes
            an STS token's ``mandatory_refresh_at`` there, so a read compares one float).

    Thread-safe.
    """

    def __init__(
        self,
        obtain: StoredSource,
        telemetry: Telemetry,
        clock: Clock,
        job_prefix: str,
        after_install: AfterInstall,
        stamp: Callable[[ManagedCredential], ManagedCredential],
    ) -> None:
        self.snapshots: dict[str, ManagedCredential] = {}
        self.closed = False
        self._states: dict[str, SecretState] = {}
        self._lock = threading.Lock()  # guards _states and closed; never held across I/O
        self._obtain = obtain
        self._telemetry = telemetry
        self._clock = clock
        self._job_prefix = job_prefix
        self._after_install = after_install
        self._stamp = stamp

    # -- per-secret state ----------------------------------------------------------------------

    def state(self, name: str) -> SecretState:
        """The state of ``name``, created on first use.

        Raises:
            ValueError: ``name`` is not a non-empty string.
            ProviderClosedError: the cache has been closed.
        """
        state = self._states.get(name)
        if state is not None and not self.closed:
            return state
        if not isinstance(name, str) or not name:
            raise ValueError("secret_name must be a non-empty string")
        with self._lock:
            if self.closed:
                raise ProviderClosedError("the credentials provider has been closed")
            state = self._states.get(name)
            if state is None:
                # A job id of its own per state: a forgotten state's late cancel cannot hit a new one.
                job_id = f"{self._job_prefix}{name}#{next(_STATE_IDS)}"
                state = self._states[name] = SecretState(name, job_id)
            return state

    def states(self) -> list[SecretState]:
        """Every secret's state, at this moment."""
        with self._lock:
            return list(self._states.values())

    def remove(self, name: str) -> SecretState | None:
        """Forget ``name``'s state (the caller then marks it forgotten under its lock)."""
        with self._lock:
            return self._states.pop(name, None)

    def close(self) -> list[SecretState] | None:
        """Refuse new states from now on; every state, or ``None`` if it was already closed."""
        with self._lock:
            if self.closed:
                return None
            self.closed = True
            return list(self._states.values())

    # -- fetching ------------------------------------------------------------------------------

    def fetch(self, state: SecretState, *, reuse_cached: bool, reason: str) -> ManagedCredential:
        """Join the secret's fetch in progress or lead a new one, and return its result.

        Args:
            reuse_cached: return the cached snapshot, if any, without fetching.
            reason: ``initial``, ``proactive`` or ``forced``, for telemetry and the store.
        """
        with state.lock:
            if reuse_cached:
                cred = self.snapshots.get(state.name)
                if cred is not None:
                    return cred
            flight, leader = self.join_or_lead(state)
        if leader:
            self.lead(state, flight, reason=reason)
        return flight.wait()

    @staticmethod
    def join_or_lead(
        state: SecretState, for_rejected: ManagedCredential | None = None
    ) -> tuple[Flight, bool]:
        """Join the secret's fetch in progress or start one. Call with ``state.lock`` held."""
        if state.flight is not None:
            return state.flight, False
        state.flight = Flight(for_rejected)
        return state.flight, True

    def lead(
        self,
        state: SecretState,
        flight: Flight,
        *,
        reason: str,
        rejected: ManagedCredential | None = None,
        settle: Settle | None = None,
    ) -> None:
        """Fetch, install, resolve ``flight``; then run ``after_install``. Never raises.

        With ``rejected`` (a reactive fetch), ``settle`` applies the rejection's outcome in the same
        critical section that ends the flight, so no thread can slip in and start a second fetch.
        """
        name = state.name
        try:
            if rejected is not None:  # inside the try: a listener's BaseException still ends the flight
                self._telemetry.key_rejected(name, rejected, self._clock.time())
            cred, from_store = self._obtain.fetch(
                name,
                reason=reason,
                current=lambda: self.snapshots.get(name),
                rejected=lambda: state.rejected,
            )
        except BaseException as exc:
            after = None
            with state.lock:
                state.flight = None
                if settle is not None:
                    after = settle(state, None)
            flight.resolve(None, exc)
            if isinstance(exc, Exception):
                serving = name in self.snapshots
                self._telemetry.fetch_failed(name, exc, reason, self._clock.time(), serving)
            if after is not None:
                after()
            return
        cred = self._stamp(cred)
        with state.lock:
            # Install and end the flight atomically, so a thread deciding under this lock whether
            # to fetch sees either the flight or its result, never neither.
            state.flight = None
            installed = not (self.closed or state.forgotten)
            old = state.last
            if installed:
                self.snapshots[name] = cred
                state.last = cred
                state.failures = 0
            after = settle(state, cred) if settle is not None else None
        flight.resolve(cred, None)
        if installed:
            self._telemetry.fetch_succeeded(name, cred, old, reason, self._clock.time(), from_store)
        if after is not None:
            after()
        if installed:
            self._after_install(state, old, cred)

    def reset_after_fork(self) -> None:
        """In a forked child: fresh locks, and no flight (its leader does not exist here)."""
        self._lock = threading.Lock()
        for state in list(self._states.values()):
            state.lock = threading.Lock()
            state.flight = None

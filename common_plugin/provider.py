"""The credentials provider: a per-secret cache of immutable credential snapshots, kept fresh.

Reading is lock-free: :meth:`CredentialsProvider.get` is one dict lookup of a frozen
:class:`~common_plugin.credentials.ManagedCredential`, so an AccessKeyId and its secret always come
from one version. Fetching is single-flight per secret: concurrent callers that need the same secret
share one ``GetSecretValue``; different secrets never wait for each other, and no lock is held
across network I/O. Each cached secret has one proactive refresh job on a :class:`Scheduler`,
timed by a :class:`RefreshPolicy`; a failed refresh reschedules itself with backoff, so the chain
never dies. After a cloud API rejects a key, :meth:`CredentialsProvider.refresh_rejected` fetches at
most once for all the threads that saw that key rejected.

Staleness policy: through failures of the proactive refresh the cached key keeps being served
(it is usually still valid). A key the server *rejected* and that could not be replaced is dropped,
so the next :meth:`~CredentialsProvider.get` fetches synchronously and raises if that fails. An STS
token is never handed out past its ``ExpireTimestamp``: in the mandatory window shortly before it
(:meth:`RefreshPolicy.mandatory_refresh_at`) ``get`` refreshes synchronously, single-flight, and
serves the old token through a failure only until it expires; after that it raises
:class:`~common_plugin.exceptions.CredentialExpiredError`.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import itertools
import logging
import math
import random
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from ._fork import on_fork_reset, on_fork_restart
from ._secret_state import Flight as _Flight
from ._secret_state import SecretState as _SecretState
from ._secret_state import same_key as _same_key
from .clock import SYSTEM_CLOCK, Clock, SystemClock
from .credentials import ManagedCredential
from .exceptions import CredentialExpiredError, MalformedSecretError, ProviderClosedError, SecretFetchError
from .observability import EventListener, ProviderStatus, Telemetry
from .refresh_policy import RefreshPolicy
from .scheduler import BackgroundScheduler, Scheduler, acquire_shared_scheduler, release_shared_scheduler
from .sources.base import SecretSource
from .storage.disk_cache import SecretStore

__all__ = ["CredentialsProvider", "Listener"]

_LOGGER = logging.getLogger(__name__)

Listener = Callable[[str, ManagedCredential | None, ManagedCredential], None]
"""``listener(secret_name, old, new)``: a new key was installed (``old`` is ``None`` on the first fetch)."""

_DEFAULT_POLICY = RefreshPolicy()
_NEVER = math.inf  # mandatory_refresh_at of a key that does not expire
_PROVIDER_IDS = itertools.count(1)
_STATE_IDS = itertools.count(1)


@dataclass(frozen=True, eq=False)
class _Subscription:
    listener: Listener
    secret_name: str | None


class CredentialsProvider:
    """Caches managed credentials per secret name and refreshes them ahead of rotation.

    Thread-safe: every method may be called from any thread, including from a listener.

    Args:
        source: where secrets are fetched from.
        clock: the time source (epoch seconds); inject a ``ManualClock`` in tests.
        scheduler: where proactive refresh jobs run. ``None`` acquires the process-wide shared
            :class:`~common_plugin.scheduler.BackgroundScheduler`, released by :meth:`close`.
        policy: refresh timing and backoff.
        rng: the random generator for jitter (default: a private, fork-reseeded ``random.Random``).
        owns_source: whether :meth:`close` also closes ``source``.
        store: an optional cross-process cache (:class:`~common_plugin.storage.EncryptedFileStore`):
            read before fetching, written after, with fetches serialised across processes.
    """

    def __init__(
        self,
        source: SecretSource,
        *,
        clock: Clock = SYSTEM_CLOCK,
        scheduler: Scheduler | None = None,
        policy: RefreshPolicy = _DEFAULT_POLICY,
        rng: random.Random | None = None,
        owns_source: bool = False,
        store: SecretStore | None = None,
    ) -> None:
        self._source = source
        self._clock = clock
        # The read path calls the clock; for the system clock, call the builtin directly.
        self._time = time.time if type(clock) is SystemClock else clock.time
        self._policy = policy
        self._owns_rng = rng is None
        # Jitter only spreads load; it needs no cryptographic randomness.
        self._rng = rng if rng is not None else random.Random()  # noqa: S311
        self._owns_source = owns_source
        self._store = store
        self._shared_scheduler: BackgroundScheduler | None = None
        if scheduler is None:
            scheduler = self._shared_scheduler = acquire_shared_scheduler()
        self._scheduler = scheduler
        self._snapshots: dict[str, ManagedCredential] = {}
        self._states: dict[str, _SecretState] = {}
        self._lock = threading.Lock()  # guards _states, _listeners and _closed; never held across I/O
        self._listeners: tuple[_Subscription, ...] = ()
        self._closed = False
        self._telemetry = Telemetry()
        self._reads = self._telemetry.reads
        self._job_prefix = f"credentials-provider-{next(_PROVIDER_IDS)}/"
        _LIVE_PROVIDERS.add(self)

    # -- reading -------------------------------------------------------------------------------

    def get(self, secret_name: str) -> ManagedCredential:
        """Return the current credential of ``secret_name``, fetching it on first use.

        The cached path is one lock-free dict lookup and one comparison with the snapshot's
        precomputed ``mandatory_refresh_at``. On a miss, or once an STS token is in its mandatory
        window, one thread fetches and the others wanting the same secret wait for that fetch.

        Raises:
            SecretFetchError: the secret was not cached and fetching it failed.
            CredentialExpiredError: the cached STS token has expired and fetching a new one failed.
            MalformedSecretError: the secret is not a managed RAM credential.
            ProviderClosedError: the provider has been closed.
        """
        next(self._reads)
        try:
            cred = self._snapshots[secret_name]
        except KeyError:
            return self._load(secret_name)
        refresh_at = cred.mandatory_refresh_at
        if refresh_at == _NEVER or self._time() < refresh_at:  # a key that never expires skips the clock
            return cred
        return self._load(secret_name)

    def peek(self, secret_name: str) -> ManagedCredential | None:
        """The cached credential of ``secret_name``, or ``None``; never fetches."""
        return self._snapshots.get(secret_name)

    def get_cached(self, secret_name: str) -> ManagedCredential | None:
        """What :meth:`get` would return without fetching or waiting, else ``None`` (not cached,
        or an STS token in its mandatory window). For callers that must not block, such as the
        asyncio adapter, which then calls :meth:`get` in a worker thread."""
        cred = self._snapshots.get(secret_name)
        if cred is not None and self._time() < cred.mandatory_refresh_at:
            return cred
        return None

    def cached_names(self) -> list[str]:
        """The sorted names of the secrets currently cached."""
        return sorted(self._snapshots.copy())

    def preload(self, names: Iterable[str]) -> None:
        """Fetch every secret in ``names`` that is not cached yet.

        Every name is attempted; each failure is logged at WARNING and the first one is raised
        afterwards, so a caller that wants best effort can catch it and carry on.
        """
        first_error: Exception | None = None
        for name in names:
            try:
                self.get(name)
            except ProviderClosedError:
                raise
            except Exception as exc:
                _LOGGER.warning("preloading secret %s failed: %s", name, exc)
                first_error = first_error or exc
        if first_error is not None:
            raise first_error

    # -- fetching ------------------------------------------------------------------------------

    def refresh(self, secret_name: str) -> ManagedCredential:
        """Fetch ``secret_name`` now (concurrent callers share one fetch) and return the result.

        Raises:
            SecretFetchError, MalformedSecretError, ProviderClosedError: as :meth:`get`; the
                cached credential, if any, is kept on failure.
        """
        return self._fetch(self._state(secret_name), reuse_cached=False, reason="forced")

    def refresh_rejected(self, secret_name: str, rejected: ManagedCredential) -> ManagedCredential | None:
        """Replace a key that a cloud API has just rejected, fetching at most once per rejected key.

        Returns:
            A credential with a different key to retry with, or ``None`` when there is none: the
            fetch returned the rejected key again (further fetches for that key are then suppressed
            for ``policy.rejected_backoff_seconds``) or failed (the rejected key is then dropped
            from the cache, so the next :meth:`get` fetches synchronously).

        Raises:
            ProviderClosedError: the provider has been closed.
        """
        state = self._state(secret_name)
        # At most two rounds: a fetch joined mid-flight may have started before the key was
        # rejected (a proactive refresh) and so bring back the old version; then fetch once more.
        for _ in range(2):
            with state.lock:
                current = self._snapshots.get(secret_name)
                if current is not None and not _same_key(current, rejected):
                    return current  # someone already replaced it: no fetch
                if (
                    state.suppressed_key is not None
                    and _same_key(state.suppressed_key, rejected)
                    and self._clock.time() < state.suppressed_until
                ):
                    return None
                state.rejected = rejected  # never to be brought back from the on-disk cache
                flight, leader = self._join_or_lead(state, rejected)
            if leader:
                self._lead(state, flight, reason="reactive", rejected=rejected)
            try:
                cred = flight.wait()
            except Exception:
                # A joiner of someone else's fetch applies the rejection outcome itself (idempotent).
                with state.lock:
                    dropped = self._drop_rejected(state, rejected)
                    self._suppress(state, rejected)
                if dropped:
                    self._after_drop(state, rejected)
                return None
            if not _same_key(cred, rejected):
                return cred
            if flight.for_rejected is None or not _same_key(flight.for_rejected, rejected):
                continue  # an older fetch answered with the old version: ask again, for this rejection
            with state.lock:
                first = self._suppress(state, rejected)
            if first:
                self._log_still_current(state, rejected)
            return None
        return None

    # -- listeners -----------------------------------------------------------------------------

    def add_listener(self, listener: Listener, *, secret_name: str | None = None) -> Callable[[], None]:
        """Call ``listener(secret_name, old, new)`` after each new key is installed.

        It is called for the first fetch too (``old`` is ``None``), and after a rotation; not when a
        refresh returns the same key. It runs in the thread that did the fetch, outside every lock
        (so it may call :meth:`get` or :meth:`refresh`), after the new key is visible to
        :meth:`get`. Listeners for concurrent fetches may, rarely, run out of order: read
        :meth:`peek` for the truth. An exception it raises is logged at WARNING and ignored.

        Args:
            listener: the callback.
            secret_name: only call it for this secret (default: every secret).

        Returns:
            A function that unsubscribes it (idempotent).
        """
        sub = _Subscription(listener, secret_name)
        with self._lock:
            self._listeners = (*self._listeners, sub)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = tuple(s for s in self._listeners if s is not sub)

        return unsubscribe

    def retry_credential(self, secret_name: str, rejected: ManagedCredential) -> ManagedCredential | None:
        """For a client deciding whether to retry a rejected call: :meth:`refresh_rejected`, but
        ``None`` (no retry; the caller's original error stands) when the provider was closed."""
        try:
            return self.refresh_rejected(secret_name, rejected)
        except ProviderClosedError:
            return None

    # -- asyncio (deprecated: use common_plugin.adapters.aio) -------------------------------------

    async def get_async(self, secret_name: str) -> ManagedCredential:
        """Deprecated: ``await common_plugin.adapters.aio.get_async(provider, name)``."""
        aio = _deprecated_async("get_async")
        return await aio.get_async(self, secret_name)  # type: ignore[no-any-return]

    async def refresh_rejected_async(
        self, secret_name: str, rejected: ManagedCredential
    ) -> ManagedCredential | None:
        """Deprecated: ``await common_plugin.adapters.aio.refresh_rejected_async(provider, ...)``."""
        aio = _deprecated_async("refresh_rejected_async")
        return await aio.refresh_rejected_async(self, secret_name, rejected)  # type: ignore[no-any-return]

    # -- observability -------------------------------------------------------------------------

    def status(self) -> ProviderStatus:
        """Per-secret health (masked key, version, last success, next refresh, failures, staleness)
        and process-wide counters; see :class:`~common_plugin.observability.ProviderStatus`."""
        with self._lock:
            states = list(self._states.values())
        next_refresh = {state.name: state.scheduled_at for state in states}
        return self._telemetry.snapshot(next_refresh, self._source.stats())

    def add_event_listener(self, listener: EventListener) -> Callable[[], None]:
        """Call ``listener(event)`` for each :class:`~common_plugin.observability.CredentialEvent`:
        fetch succeeded/failed, rotation picked up, key rejected, retry performed, stale serving
        started/ended. Runs in the thread where it happened, outside every lock; an exception it
        raises is logged and ignored. Returns an unsubscribe function."""
        return self._telemetry.add_listener(listener)

    def record_retry(self, secret_name: str, credential: ManagedCredential) -> None:
        """Called by a client that retried a call with ``credential`` after a rejection."""
        self._telemetry.retry_performed(secret_name, credential, self._clock.time())

    # -- lifecycle -----------------------------------------------------------------------------

    def forget(self, secret_name: str) -> None:
        """Drop ``secret_name`` from the cache and cancel its refresh job; the next use fetches."""
        with self._lock:
            state = self._states.pop(secret_name, None)
        if state is None:
            return
        with state.lock:
            state.forgotten = True
            self._snapshots.pop(secret_name, None)
            self._cancel_job(state)
        self._telemetry.forget(secret_name)

    def close(self) -> None:
        """Cancel the refresh jobs and drop the cache; later reads raise ProviderClosedError.

        Idempotent. Does not wait for a fetch in progress. Releases the shared scheduler if this
        provider acquired it, and closes the source if ``owns_source``.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            states = list(self._states.values())
        for state in states:
            with state.lock:
                self._snapshots.pop(state.name, None)
                self._cancel_job(state)
        self._snapshots.clear()
        if self._shared_scheduler is not None:
            release_shared_scheduler(self._shared_scheduler)
            self._shared_scheduler = None
        if self._owns_source:
            self._source.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def __enter__(self) -> CredentialsProvider:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CredentialsProvider(source={self._source.describe()!r}, cached={self.cached_names()!r})"

    # -- internals -----------------------------------------------------------------------------

    def _state(self, name: str) -> _SecretState:
        state = self._states.get(name)
        if state is not None and not self._closed:
            return state
        if not isinstance(name, str) or not name:
            raise ValueError("secret_name must be a non-empty string")
        with self._lock:
            if self._closed:
                raise ProviderClosedError("the credentials provider has been closed")
            state = self._states.get(name)
            if state is None:
                # A job id of its own per state: a forgotten state's late cancel cannot hit a new one.
                job_id = f"{self._job_prefix}{name}#{next(_STATE_IDS)}"
                state = self._states[name] = _SecretState(name, job_id)
            return state

    def _load(self, name: str) -> ManagedCredential:
        """:meth:`get` when ``name`` is not cached or its STS token is in the mandatory window.

        Fetches (one fetch for every waiting thread) and hands out only a key that has not expired:
        through a failed fetch the cached token is served until its ``ExpireTimestamp`` (and for
        ``mandatory_retry_seconds`` before the next try), then refused with CredentialExpiredError.
        """
        state = self._state(name)
        with state.lock:
            cached = self._snapshots.get(name)
            if cached is not None and self._clock.time() < cached.mandatory_refresh_at:
                return cached  # refreshed, or its retry deferred, while we took the lock
            flight, leader = self._join_or_lead(state)
        if leader:
            self._lead(state, flight, reason="initial" if cached is None else "mandatory")
        try:
            cred = flight.wait()
        except ProviderClosedError:
            raise
        except Exception as exc:
            if cached is None:
                raise
            return self._serve_until_expiry(state, cached, exc)
        if cred.expires_at is not None and cred.expires_at <= self._clock.time():
            raise CredentialExpiredError(
                f"secret {name!r}: KMS returned an STS token that has already expired "
                f"(ExpireTimestamp {_iso(cred.expires_at)}); check this host's clock and that the "
                "secret's rotation is running",
                secret_name=name,
                expired_at=cred.expires_at,
            )
        return cred

    def _serve_until_expiry(
        self, state: _SecretState, cached: ManagedCredential, error: Exception
    ) -> ManagedCredential:
        """A refresh in the mandatory window failed: the cached token while it is valid, else raise."""
        now = self._clock.time()
        with state.lock:
            current = self._snapshots.get(state.name)
            if current is cached:
                # Defer the next synchronous try, so an outage does not put a fetch before every call.
                retry_at = self._policy.mandatory_retry_at(cached, now)
                current = dataclasses.replace(cached, mandatory_refresh_at=retry_at)
                self._snapshots[state.name] = current
        if current is None:  # dropped meanwhile (a cloud API rejected it): nothing to serve
            raise error
        if current.expires_at is not None and current.expires_at <= now:
            code = error.code if isinstance(error, SecretFetchError) else type(error).__name__
            raise CredentialExpiredError(
                f"secret {state.name!r}: the cached STS token expired at {_iso(current.expires_at)} "
                f"and fetching a new one failed ({code}); an expired key is never handed out. Check "
                "that KMS is reachable (endpoint, network, credentials) and see the cause below",
                secret_name=state.name,
                expired_at=current.expires_at,
                code=code,
                http_status=error.http_status if isinstance(error, SecretFetchError) else None,
            ) from error
        return current

    @staticmethod
    def _join_or_lead(
        state: _SecretState, for_rejected: ManagedCredential | None = None
    ) -> tuple[_Flight, bool]:
        """Join the secret's fetch in progress or start one. Call with ``state.lock`` held."""
        if state.flight is not None:
            return state.flight, False
        state.flight = _Flight(for_rejected)
        return state.flight, True

    def _fetch(self, state: _SecretState, *, reuse_cached: bool, reason: str) -> ManagedCredential:
        with state.lock:
            if reuse_cached:
                cred = self._snapshots.get(state.name)
                if cred is not None:
                    return cred
            flight, leader = self._join_or_lead(state)
        if leader:
            self._lead(state, flight, reason=reason)
        return flight.wait()

    def _lead(
        self,
        state: _SecretState,
        flight: _Flight,
        *,
        reason: str,
        rejected: ManagedCredential | None = None,
    ) -> None:
        """Fetch, install, resolve ``flight``; then schedule and notify. Never raises.

        With ``rejected``, the rejection outcome (drop or suppress) is applied in the same critical
        section that ends the flight, so no thread can slip in and start a second fetch for it.
        """
        try:
            if rejected is not None:  # inside the try: a listener's BaseException still ends the flight
                self._telemetry.key_rejected(state.name, rejected, self._clock.time())
            cred, from_store = self._obtain(state, reason, rejected)
        except BaseException as exc:
            dropped = False
            with state.lock:
                state.flight = None
                if rejected is not None:
                    dropped = self._drop_rejected(state, rejected)
                    self._suppress(state, rejected)
            flight.resolve(None, exc)
            if isinstance(exc, Exception):
                serving = state.name in self._snapshots
                self._telemetry.fetch_failed(state.name, exc, reason, self._clock.time(), serving)
            if rejected is not None and dropped:
                self._after_drop(state, rejected)
            return
        if cred.expires_at is not None:  # precomputed once, so get() compares one float
            cred = dataclasses.replace(cred, mandatory_refresh_at=self._policy.mandatory_refresh_at(cred))
        still_current = False
        with state.lock:
            # Install and end the flight atomically, so a thread deciding under this lock whether
            # to fetch sees either the flight or its result, never neither.
            state.flight = None
            installed = not (self._closed or state.forgotten)
            old = state.last
            if installed:
                self._snapshots[state.name] = cred
                state.last = cred
                state.failures = 0
            if rejected is not None and _same_key(cred, rejected):
                still_current = self._suppress(state, rejected)
        flight.resolve(cred, None)
        if installed:
            self._telemetry.fetch_succeeded(state.name, cred, old, reason, self._clock.time(), from_store)
        if still_current and rejected is not None:
            self._log_still_current(state, rejected)
        if installed:
            try:
                self._after_install(state, old, cred)
            except Exception:
                _LOGGER.warning("secret %s: post-refresh bookkeeping failed", state.name, exc_info=True)
                self._schedule(state, self._clock.time() + self._policy.min_interval_seconds)

    def _obtain(
        self, state: _SecretState, reason: str, rejected: ManagedCredential | None
    ) -> tuple[ManagedCredential, bool]:
        """The credential to install, and whether it came from the store rather than the source."""
        name = state.name
        store = self._store
        if store is None:
            value = self._source.get_secret_value(name)
            return ManagedCredential.from_secret_value(value, fetched_at=self._clock.time()), False
        with store.locked(name):  # another process may be fetching this secret: wait, then re-read
            stored = store.load(name)
            if stored is not None:
                try:
                    cached = ManagedCredential.from_secret_value(stored.value, fetched_at=stored.fetched_at)
                except MalformedSecretError:
                    cached = None
                if cached is not None and self._store_usable(state, cached, reason):
                    return cached, True
            value = self._source.get_secret_value(name)
            fetched_at = self._clock.time()
            cred = ManagedCredential.from_secret_value(value, fetched_at=fetched_at)
            store.save(name, value, fetched_at)
            return cred, False

    def _store_usable(self, state: _SecretState, cached: ManagedCredential, reason: str) -> bool:
        """Whether a value another process (or an earlier run) stored may stand in for a fetch:
        fresh, not a forced refresh, never a key a cloud API rejected, and for a proactive refresh
        newer than what this process holds."""
        if reason == "forced" or not self._policy.is_fresh(cached, self._clock.time()):
            return False
        rejected = state.rejected
        if rejected is not None and _same_key(cached, rejected):
            return False
        if reason == "proactive":
            current = self._snapshots.get(state.name)
            return current is None or cached.fetched_at > current.fetched_at
        return True

    def _after_install(
        self, state: _SecretState, old: ManagedCredential | None, new: ManagedCredential
    ) -> None:
        self._schedule(state, self._policy.next_refresh_at(new, self._clock.time(), self._rng))
        if old is not None and _same_key(old, new):
            return
        if old is None:
            _LOGGER.debug(
                "secret %s loaded: AccessKeyId %s, version %s",
                state.name,
                new.masked_access_key_id,
                new.version_id,
            )
        else:
            _LOGGER.info(
                "secret %s rotated: AccessKeyId %s -> %s, version %s",
                state.name,
                old.masked_access_key_id,
                new.masked_access_key_id,
                new.version_id,
            )
        for sub in self._listeners:
            if sub.secret_name is not None and sub.secret_name != state.name:
                continue
            try:
                sub.listener(state.name, old, new)
            except Exception:
                _LOGGER.warning("a listener raised for secret %s; ignored", state.name, exc_info=True)

    def _suppress(self, state: _SecretState, rejected: ManagedCredential) -> bool:
        """Suppress reactive fetches for ``rejected``; True if not already suppressed. Lock held."""
        now = self._clock.time()
        already = (
            state.suppressed_key is not None
            and _same_key(state.suppressed_key, rejected)
            and now < state.suppressed_until
        )
        if not already:
            state.suppressed_key = rejected
            state.suppressed_until = now + self._policy.rejected_backoff_seconds
        return not already

    def _drop_rejected(self, state: _SecretState, rejected: ManagedCredential) -> bool:
        """Drop the cached key if it is the rejected one; True if dropped. Lock held."""
        current = self._snapshots.get(state.name)
        if current is None or not _same_key(current, rejected):
            return False
        del self._snapshots[state.name]
        return True

    def _after_drop(self, state: _SecretState, rejected: ManagedCredential) -> None:
        """A rejected key was dropped (its replacement could not be fetched): log it, and take it
        out of the on-disk cache too, so neither a restart nor another process brings it back."""
        _LOGGER.warning(
            "secret %s: AccessKeyId %s was rejected and fetching a new one failed; "
            "dropped from the cache, the next use fetches again",
            state.name,
            rejected.masked_access_key_id,
        )
        if self._store is not None:
            self._store.discard(state.name)

    def _log_still_current(self, state: _SecretState, rejected: ManagedCredential) -> None:
        _LOGGER.warning(
            "secret %s: AccessKeyId %s was rejected but is still the current version; "
            "not fetching it again for %.0f s",
            state.name,
            rejected.masked_access_key_id,
            self._policy.rejected_backoff_seconds,
        )

    def _schedule(self, state: _SecretState, run_at: float) -> None:
        job = functools.partial(_run_refresh_job, weakref.ref(self), state)
        with state.lock:
            # Under the state lock, so close()/forget() cannot slip in between check and schedule.
            if self._closed or state.forgotten:
                return
            state.chain_active = True
            state.scheduled_at = run_at
            try:
                self._scheduler.schedule(state.job_id, run_at, job)
            except Exception:
                _LOGGER.warning("could not schedule the refresh of secret %s", state.name, exc_info=True)

    def _cancel_job(self, state: _SecretState) -> None:
        state.scheduled_at = None
        try:
            self._scheduler.cancel(state.job_id)
        except Exception:
            _LOGGER.warning("could not cancel the refresh of secret %s", state.name, exc_info=True)

    def _refresh_job(self, state: _SecretState) -> None:
        with state.lock:
            if self._closed or state.forgotten:
                return
            state.scheduled_at = None
        rescheduled = False
        try:
            # on success the fetch's leader reschedules
            self._fetch(state, reuse_cached=False, reason="proactive")
            rescheduled = True
        except Exception:
            with state.lock:
                state.failures += 1
                failures = state.failures
            delay = self._policy.retry_delay(failures, self._rng)
            _LOGGER.warning(
                "background refresh of secret %s failed (%d in a row); retrying in %.1f s",
                state.name,
                failures,
                delay,
                exc_info=True,
            )
            self._schedule(state, self._clock.time() + delay)
            rescheduled = True
        finally:
            if not rescheduled:  # a BaseException: keep the chain alive anyway
                self._schedule(state, self._clock.time() + self._policy.retry_delay(1, self._rng))

    def _reset_after_fork(self) -> None:
        # Threads holding these locks or leading a fetch do not exist in the child; pooled
        # connections would be shared with the parent.
        self._lock = threading.Lock()
        if self._owns_rng:
            self._rng.seed()  # parent and children would otherwise draw the same jitter
        for state in list(self._states.values()):
            state.lock = threading.Lock()
            state.flight = None
        self._telemetry.reset_after_fork()
        self._source.after_fork()
        if self._store is not None:
            self._store.after_fork()

    def _restart_after_fork(self) -> None:
        if self._closed:
            return
        now = self._clock.time()
        for state in list(self._states.values()):
            if state.chain_active and not state.forgotten:
                # No pending run means the job was running at fork time: run it again now.
                self._schedule(state, state.scheduled_at if state.scheduled_at is not None else now)


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _deprecated_async(name: str) -> Any:
    """The asyncio layer, for the deprecated ``CredentialsProvider.*_async`` methods.

    Resolved by name at call time: the sync core has no import of the asyncio layer (the layer
    contract in ``pyproject.toml``), so importing the provider never loads asyncio.
    """
    warnings.warn(
        f"CredentialsProvider.{name} is deprecated; use common_plugin.adapters.aio.{name}(provider, ...)",
        DeprecationWarning,
        stacklevel=3,
    )
    return importlib.import_module(__package__ + ".adapters.aio")


def _run_refresh_job(provider_ref: weakref.ref[CredentialsProvider], state: _SecretState) -> None:
    # A weak reference, so a provider dropped without close() is not kept alive by its jobs.
    provider = provider_ref()
    if provider is not None:
        provider._refresh_job(state)


_LIVE_PROVIDERS: weakref.WeakSet[CredentialsProvider] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for provider in list(_LIVE_PROVIDERS):
        provider._reset_after_fork()


def _restart_after_fork() -> None:
    for provider in list(_LIVE_PROVIDERS):
        provider._restart_after_fork()


on_fork_reset(_reset_after_fork)
on_fork_restart(_restart_after_fork)

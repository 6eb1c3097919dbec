"""The credentials provider: a per-secret cache of immutable credential snapshots, kept fresh.

Reading is lock-free: :meth:`CredentialsProvider.get` is one dict lookup of a frozen
:class:`~common_plugin.credentials.ManagedCredential` and one float compare (with its precomputed
``mandatory_refresh_at``), so an AccessKeyId and its secret always come from one version.
:class:`CredentialsProvider` is the public facade over parts a reader can name:

* :mod:`~common_plugin._snapshot_cache` - the snapshots and their single-flight fetch: concurrent
  callers that need the same secret share one ``GetSecretValue``; different secrets never wait
  for each other;
* :mod:`~common_plugin.storage.stored_source` - the source behind the optional on-disk store,
  whose cross-process lock is the one lock held across a fetch (one fetch per host, by design);
* :mod:`~common_plugin._rejection_gate` - after a cloud API rejects a key,
  :meth:`CredentialsProvider.refresh_rejected` fetches at most once for all the threads that saw
  that key rejected (the retry itself is decided by :mod:`common_plugin.retry`);
* :mod:`~common_plugin._refresh_chain` - one proactive refresh job per secret on a
  :class:`Scheduler`, timed by a :class:`RefreshPolicy`; a failed refresh reschedules itself with
  backoff, so the chain never dies;
* :mod:`~common_plugin._key_listeners` and :mod:`~common_plugin.observability` - key-change
  listeners, events and counters.

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
import time
import warnings
import weakref
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._fork import on_fork_reset, on_fork_restart
from ._key_listeners import KeyListeners, Listener
from ._refresh_chain import RefreshChain
from ._rejection_gate import RejectionGate
from ._secret_state import SecretState
from ._snapshot_cache import SnapshotCache
from .clock import SYSTEM_CLOCK, Clock, SystemClock
from .credentials import ManagedCredential
from .exceptions import CredentialExpiredError, ProviderClosedError, SecretFetchError
from .observability import EventListener, ProviderStatus, Telemetry
from .refresh_policy import RefreshPolicy
from .scheduler import BackgroundScheduler, Scheduler, acquire_shared_scheduler, release_shared_scheduler
from .sources.base import SecretSource
from .storage.stored_source import StoredSource

if TYPE_CHECKING:
    from .storage.disk_cache import SecretStore

__all__ = ["CredentialsProvider", "Listener"]

_LOGGER = logging.getLogger(__name__)

_DEFAULT_POLICY = RefreshPolicy()
_NEVER = math.inf  # mandatory_refresh_at of a key that does not expire
_PROVIDER_IDS = itertools.count(1)


class CredentialsProvider:
    """Caches managed credentials per secret name and refreshes them ahead of rotation.

    The facade over its parts: a :class:`~common_plugin._snapshot_cache.SnapshotCache` (snapshots,
    single-flight fetch), a :class:`~common_plugin.storage.stored_source.StoredSource` (the source
    behind the optional on-disk store), a :class:`~common_plugin._rejection_gate.RejectionGate` (one
    fetch per rejected key), a :class:`~common_plugin._refresh_chain.RefreshChain` (the proactive
    schedule), :class:`~common_plugin._key_listeners.KeyListeners` and
    :class:`~common_plugin.observability.Telemetry`.

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
        self._shared_scheduler: BackgroundScheduler | None = None
        if scheduler is None:
            scheduler = self._shared_scheduler = acquire_shared_scheduler()
        self._scheduler = scheduler
        self._telemetry = Telemetry()
        self._reads = self._telemetry.reads
        self._listeners = KeyListeners()
        self._stored = StoredSource(source, store, clock, policy.is_fresh)
        # The jobs hold a weak reference to the provider, and no part holds a strong one: a
        # provider dropped without close() is freed, and its jobs then do nothing.
        self._chain = RefreshChain(
            scheduler, policy, clock, self._rng, functools.partial(_job_for, weakref.ref(self))
        )
        job_prefix = f"credentials-provider-{next(_PROVIDER_IDS)}/"
        self._preload_job_id = job_prefix + "preload"  # the secrets' job ids all end in #<n>
        self._cache = SnapshotCache(
            self._stored,
            self._telemetry,
            clock,
            job_prefix,
            functools.partial(_after_install, self._chain, self._listeners),
            functools.partial(_stamp_mandatory_refresh, policy),
        )
        self._snapshots = self._cache.snapshots  # the hot path's one dict
        self._gate = RejectionGate(self._cache, clock, policy, self._stored.discard)
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

    def preload(self, names: Iterable[str], *, background: bool = False) -> None:
        """Fetch every secret in ``names`` that is not cached yet.

        Every name is attempted; each failure is logged at WARNING and the first one is raised
        afterwards, so a caller that wants best effort can catch it and carry on.

        Args:
            names: the secrets.
            background: return at once and fetch in one job on the provider's scheduler instead
                (failures are only logged; a later :meth:`get` of a failed secret fetches again
                and raises). :meth:`close` cancels it if it has not started.
        """
        names = tuple(names)
        if background:
            job = functools.partial(_run_preload, weakref.ref(self), names)
            self._scheduler.schedule(self._preload_job_id, self._clock.time(), job)
            return
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
        return self._cache.fetch(self._cache.state(secret_name), reuse_cached=False, reason="forced")

    def refresh_rejected(self, secret_name: str, rejected: ManagedCredential) -> ManagedCredential | None:
        """Replace a key that a cloud API has just rejected, fetching at most once per rejected key.

        A client deciding whether to retry a call asks :func:`common_plugin.retry.decide_retry`,
        which calls this.

        Returns:
            A credential with a different key to retry with, or ``None`` when there is none: the
            fetch returned the rejected key again (further fetches for that key are then suppressed
            for ``policy.rejected_backoff_seconds``) or failed (the rejected key is then dropped
            from the cache, so the next :meth:`get` fetches synchronously).

        Raises:
            ProviderClosedError: the provider has been closed.
        """
        return self._gate.refresh_rejected(secret_name, rejected)

    # -- listeners -----------------------------------------------------------------------------

    def add_listener(self, listener: Listener, *, secret_name: str | None = None) -> Callable[[], None]:
        """Call ``listener(secret_name, old, new)`` after each new key is installed.

        It is called for the first fetch too (``old`` is ``None``), and after a rotation; not when a
        refresh returns the same key (id, secret and token). It runs in the thread that did the
        fetch, outside every lock (so it may call :meth:`get` or :meth:`refresh`), after the new key
        is visible to :meth:`get`. Listeners for concurrent fetches may, rarely, run out of order:
        read :meth:`peek` for the truth. An exception it raises is logged at WARNING and ignored.

        Args:
            listener: the callback.
            secret_name: only call it for this secret (default: every secret).

        Returns:
            A function that unsubscribes it (idempotent).
        """
        return self._listeners.add(listener, secret_name)

    # -- deprecated synonyms ---------------------------------------------------------------------

    def retry_credential(self, secret_name: str, rejected: ManagedCredential) -> ManagedCredential | None:
        """Deprecated: a client deciding whether to retry calls :func:`common_plugin.retry.decide_retry`.

        :meth:`refresh_rejected`, but ``None`` when the provider was closed.
        """
        warnings.warn(
            "CredentialsProvider.retry_credential is deprecated; use "
            "common_plugin.retry.decide_retry(provider, secret_name, used, error, handler)",
            DeprecationWarning,
            stacklevel=2,
        )
        try:
            return self.refresh_rejected(secret_name, rejected)
        except ProviderClosedError:
            return None

    def record_retry(self, secret_name: str, credential: ManagedCredential) -> None:
        """Deprecated: :func:`common_plugin.retry.decide_retry` records the retries it decides."""
        warnings.warn(
            "CredentialsProvider.record_retry is deprecated; common_plugin.retry.decide_retry records "
            "the retries it decides (common_plugin.retry.record_retry for an SDK that decides later)",
            DeprecationWarning,
            stacklevel=2,
        )
        self._record_retry(secret_name, credential)

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
        next_refresh = {state.name: state.scheduled_at for state in self._cache.states()}
        return self._telemetry.snapshot(next_refresh, self._source.stats())

    def add_event_listener(self, listener: EventListener) -> Callable[[], None]:
        """Call ``listener(event)`` for each :class:`~common_plugin.observability.CredentialEvent`:
        fetch succeeded/failed, rotation picked up, key rejected, retry performed, stale serving
        started/ended. Runs in the thread where it happened, outside every lock; an exception it
        raises is logged and ignored. Returns an unsubscribe function."""
        return self._telemetry.add_listener(listener)

    def _record_retry(self, secret_name: str, credential: ManagedCredential) -> None:
        # For common_plugin.retry only: a client retried a call with ``credential``.
        self._telemetry.retry_performed(secret_name, credential, self._clock.time())

    # -- lifecycle -----------------------------------------------------------------------------

    def forget(self, secret_name: str) -> None:
        """Drop ``secret_name`` from the cache and cancel its refresh job; the next use fetches."""
        state = self._cache.remove(secret_name)
        if state is None:
            return
        with state.lock:
            state.forgotten = True
            self._snapshots.pop(secret_name, None)
            self._chain.cancel(state)
        self._telemetry.forget(secret_name)

    def close(self) -> None:
        """Cancel the refresh jobs and drop the cache; later reads raise ProviderClosedError.

        Idempotent. Does not wait for a fetch in progress. Releases the shared scheduler if this
        provider acquired it, and closes the source if ``owns_source``.
        """
        states = self._cache.close()
        if states is None:
            return
        self._chain.close()
        try:
            self._scheduler.cancel(self._preload_job_id)
        except Exception:
            _LOGGER.warning("could not cancel the background preload", exc_info=True)
        for state in states:
            with state.lock:
                self._snapshots.pop(state.name, None)
                self._chain.cancel(state)
        self._snapshots.clear()
        if self._shared_scheduler is not None:
            release_shared_scheduler(self._shared_scheduler)
            self._shared_scheduler = None
        if self._owns_source:
            self._source.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._cache.closed

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

    def _load(self, name: str) -> ManagedCredential:
        """:meth:`get` when ``name`` is not cached or its STS token is in the mandatory window.

        Fetches (one fetch for every waiting thread) and hands out only a key that has not expired:
        through a failed fetch the cached token is served until its ``ExpireTimestamp`` (and for
        ``mandatory_retry_seconds`` before the next try), then refused with CredentialExpiredError.
        """
        state = self._cache.state(name)
        with state.lock:
            cached = self._snapshots.get(name)
            if cached is not None and self._clock.time() < cached.mandatory_refresh_at:
                return cached  # refreshed, or its retry deferred, while we took the lock
            flight, leader = self._cache.join_or_lead(state)
        if leader:
            self._cache.lead(state, flight, reason="initial" if cached is None else "mandatory")
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
        self, state: SecretState, cached: ManagedCredential, error: Exception
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

    def _refresh_job(self, state: SecretState) -> None:
        self._chain.run(state, functools.partial(self._cache.fetch, reuse_cached=False, reason="proactive"))

    def _reset_after_fork(self) -> None:
        # Threads holding these locks or leading a fetch do not exist in the child; pooled
        # connections would be shared with the parent.
        if self._owns_rng:
            self._rng.seed()  # parent and children would otherwise draw the same jitter
        self._cache.reset_after_fork()
        self._listeners.reset_after_fork()
        self._telemetry.reset_after_fork()
        self._stored.after_fork()

    def _restart_after_fork(self) -> None:
        if not self._cache.closed:
            self._chain.restart_after_fork(self._cache.states())


def _after_install(
    chain: RefreshChain,
    listeners: KeyListeners,
    state: SecretState,
    old: ManagedCredential | None,
    new: ManagedCredential,
) -> None:
    """What follows each installed snapshot: the next refresh, then the key-change listeners."""
    try:
        chain.after_install(state, new)
        listeners.installed(state.name, old, new)
    except Exception:
        _LOGGER.warning("secret %s: post-refresh bookkeeping failed", state.name, exc_info=True)
        chain.retry_soon(state)


def _job_for(provider_ref: weakref.ref[CredentialsProvider], state: SecretState) -> Callable[[], None]:
    return functools.partial(_run_refresh_job, provider_ref, state)


def _run_refresh_job(provider_ref: weakref.ref[CredentialsProvider], state: SecretState) -> None:
    # A weak reference, so a provider dropped without close() is not kept alive by its jobs.
    provider = provider_ref()
    if provider is not None:
        provider._refresh_job(state)


def _run_preload(provider_ref: weakref.ref[CredentialsProvider], names: tuple[str, ...]) -> None:
    provider = provider_ref()
    if provider is None:
        return
    try:
        provider.preload(names)
    except ProviderClosedError:
        return  # closed before the job ran: nothing to warm
    except Exception:  # noqa: BLE001 - preload() logged each failure; a later get() raises it
        _LOGGER.debug("background preload incomplete; failed secrets are fetched on first use")


def _stamp_mandatory_refresh(policy: RefreshPolicy, cred: ManagedCredential) -> ManagedCredential:
    """``cred`` with its ``mandatory_refresh_at`` precomputed, so get() compares one float."""
    if cred.expires_at is None:
        return cred
    return dataclasses.replace(cred, mandatory_refresh_at=policy.mandatory_refresh_at(cred))


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


_LIVE_PROVIDERS: weakref.WeakSet[CredentialsProvider] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for provider in list(_LIVE_PROVIDERS):
        provider._reset_after_fork()


def _restart_after_fork() -> None:
    for provider in list(_LIVE_PROVIDERS):
        provider._restart_after_fork()


on_fork_reset(_reset_after_fork)
on_fork_restart(_restart_after_fork)

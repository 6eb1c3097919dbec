"""The refresh chain of :class:`~common_plugin.provider.CredentialsProvider`: one proactive job per secret.

After each installed snapshot the chain schedules the secret's next refresh, timed by the
:class:`~common_plugin.refresh_policy.RefreshPolicy` (rotation dates, token expiry, intervals,
jitter). A refresh that fails reschedules itself with backoff, and even a ``BaseException`` in a
job reschedules it, so the chain never dies; only :meth:`RefreshChain.close` and a forgotten secret
end it. After ``fork()`` the child restarts each active chain on its own scheduler.

Private: the provider owns the chain and runs its jobs (which hold only a weak reference to the
provider, so a provider dropped without ``close()`` is not kept alive by them).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

from ._secret_state import SecretState
from .clock import Clock
from .credentials import ManagedCredential
from .refresh_policy import RefreshPolicy
from .scheduler import Scheduler

__all__ = ["Fetch", "JobFactory", "RefreshChain"]

_LOGGER = logging.getLogger(__name__)

JobFactory = Callable[[SecretState], Callable[[], None]]
"""Makes the scheduler job that refreshes one secret (it calls :meth:`RefreshChain.run`)."""

Fetch = Callable[[SecretState], ManagedCredential]
"""A proactive fetch of one secret, single-flight (its leader calls :meth:`RefreshChain.after_install`)."""


class RefreshChain:
    """Schedules, runs and cancels the proactive refresh job of each secret.

    Args:
        scheduler: where the jobs run.
        policy: when to refresh, and the backoff after a failure.
        clock: the time source (epoch seconds).
        rng: the jitter and backoff draws.
        job_for: makes a secret's job.

    Thread-safe: each secret's job fields are guarded by its state's lock.
    """

    def __init__(
        self,
        scheduler: Scheduler,
        policy: RefreshPolicy,
        clock: Clock,
        rng: random.Random,
        job_for: JobFactory,
    ) -> None:
        self._scheduler = scheduler
        self._policy = policy
        self._clock = clock
        self._rng = rng
        self._job_for = job_for
        self._closed = False

    def after_install(self, state: SecretState, new: ManagedCredential) -> None:
        """Schedule the next refresh of a secret whose snapshot ``new`` was just installed."""
        self.schedule(state, self._policy.next_refresh_at(new, self._clock.time(), self._rng))

    def retry_soon(self, state: SecretState) -> None:
        """Schedule a refresh ``min_interval_seconds`` from now (the chain must not die)."""
        self.schedule(state, self._clock.time() + self._policy.min_interval_seconds)

    def schedule(self, state: SecretState, run_at: float) -> None:
        """Run the secret's job at ``run_at`` (epoch seconds), replacing any pending run."""
        job = self._job_for(state)
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

    def cancel(self, state: SecretState) -> None:
        """Cancel the secret's pending run. Call with ``state.lock`` held."""
        state.scheduled_at = None
        try:
            self._scheduler.cancel(state.job_id)
        except Exception:
            _LOGGER.warning("could not cancel the refresh of secret %s", state.name, exc_info=True)

    def run(self, state: SecretState, fetch: Fetch) -> None:
        """The job: fetch proactively; on failure, reschedule with backoff. Never raises."""
        with state.lock:
            if self._closed or state.forgotten:
                return
            state.scheduled_at = None
        rescheduled = False
        try:
            fetch(state)  # on success the fetch's leader reschedules (after_install)
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
            self.schedule(state, self._clock.time() + delay)
            rescheduled = True
        finally:
            if not rescheduled:  # a BaseException: keep the chain alive anyway
                self.schedule(state, self._clock.time() + self._policy.retry_delay(1, self._rng))

    def close(self) -> None:
        """No job is scheduled from now on (the caller cancels the pending ones)."""
        self._closed = True

    def restart_after_fork(self, states: list[SecretState]) -> None:
        """In a forked child: put each active chain on this process's scheduler again."""
        if self._closed:
            return
        now = self._clock.time()
        for state in states:
            if state.chain_active and not state.forgotten:
                # No pending run means the job was running at fork time: run it again now.
                self.schedule(state, state.scheduled_at if state.scheduled_at is not None else now)

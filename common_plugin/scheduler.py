"""One-shot job scheduling for proactive refreshes: an interface, apscheduler and manual implementations.

A job is identified by a string id; scheduling an id again replaces its pending run. Jobs are
one-shot: a refresh job schedules its own next run. Times are POSIX epoch seconds.

The process-wide :class:`BackgroundScheduler` is shared by reference counting
(:func:`acquire_shared_scheduler` / :func:`release_shared_scheduler`), so that one process runs one
scheduler thread and a small, constant pool of worker threads however many secrets and clients it
has, and so that one client's shutdown never stops another's refresh. After ``os.fork()`` every
live :class:`BackgroundScheduler` in the child drops the parent's (dead) apscheduler threads and
locks, and re-registers its pending jobs on a fresh apscheduler instance.
"""

from __future__ import annotations

import abc
import itertools
import logging
import math
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

from ._fork import on_fork_reset, on_fork_restart

__all__ = [
    "BackgroundScheduler",
    "ManualScheduler",
    "Scheduler",
    "acquire_shared_scheduler",
    "release_shared_scheduler",
]

_LOGGER = logging.getLogger(__name__)

Job = Callable[[], None]


class Scheduler(abc.ABC):
    """Runs one-shot jobs at epoch times.

    Contract:
        * All methods are thread-safe and may be called from inside a running job, and no job
          runs while a lock that these methods take is held (callers may schedule while holding
          their own locks).
        * ``schedule`` replaces the pending run of a job with the same id.
        * A job runs even when it is late (no misfire grace): a late refresh is still a refresh.
        * A job that raises is logged at WARNING and never stops the scheduler.
        * ``shutdown`` does not wait for running jobs (they may be blocked on the network).
    """

    @abc.abstractmethod
    def schedule(self, job_id: str, run_at: float, func: Job) -> None:
        """Run ``func()`` once at epoch time ``run_at`` (seconds), replacing ``job_id``'s pending run."""

    @abc.abstractmethod
    def cancel(self, job_id: str) -> None:
        """Drop ``job_id``'s pending run, if any. A run already started is not interrupted."""

    @abc.abstractmethod
    def shutdown(self) -> None:
        """Drop every pending job and stop. Idempotent."""


def _run_guarded(job_id: str, func: Job) -> None:
    try:
        func()
    except Exception:
        _LOGGER.warning("scheduled job %s raised; the scheduler carries on", job_id, exc_info=True)


_APS: SimpleNamespace | None = None


def _apscheduler() -> SimpleNamespace:
    """The parts of apscheduler we use, imported with the first :class:`BackgroundScheduler` (the
    first provider), not with this module: apscheduler brings some hundred modules (asyncio,
    multiprocessing, importlib.metadata) that ``import sdk_core_plugin`` should not pay for.
    Two threads racing here import it twice, harmlessly."""
    global _APS
    if _APS is None:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.base import JobLookupError
        from apscheduler.schedulers.background import BackgroundScheduler as ApsBackgroundScheduler
        from apscheduler.schedulers.base import STATE_STOPPED
        from apscheduler.triggers.date import DateTrigger

        class ApsScheduler(ApsBackgroundScheduler):  # type: ignore[misc]
            """apscheduler's BackgroundScheduler, tolerant of a shutdown racing a dispatch.

            apscheduler 3.11 marks itself stopped *before* taking its job-store lock, so a loop
            thread that is dispatching a one-shot job at that moment fails to remove it and dies
            with ``JobLookupError`` (an unhandled exception in thread ``APScheduler``). Once
            stopped, a missing job is exactly what we want, so the error is swallowed then.
            Checked against apscheduler 3.11.
            """

            def remove_job(self, job_id: str, jobstore: str | None = None) -> None:
                try:
                    super().remove_job(job_id, jobstore)
                except JobLookupError:
                    if self.state != STATE_STOPPED:
                        raise

        _APS = SimpleNamespace(
            Scheduler=ApsScheduler,
            ThreadPoolExecutor=ThreadPoolExecutor,
            JobLookupError=JobLookupError,
            DateTrigger=DateTrigger,
        )
    return _APS


@dataclass(frozen=True, eq=False)
class _Entry:
    run_at: float
    func: Job
    aps_id: str


def _check_time(run_at: float) -> None:
    if not math.isfinite(run_at):
        raise ValueError("run_at must be a finite epoch time in seconds")


class BackgroundScheduler(Scheduler):
    """A :class:`Scheduler` over apscheduler's ``BackgroundScheduler``. Thread-safe and fork-safe.

    Threads (started lazily, on the first :meth:`schedule`): one daemon ``APScheduler`` loop
    thread plus at most ``max_workers`` worker threads, created by the thread pool only when jobs
    overlap. Jobs use a UTC ``DateTrigger``, ``misfire_grace_time=None`` (a late job is never
    dropped), ``coalesce=True`` and ``max_instances=1``. Each run gets its own apscheduler job id,
    so a job that reschedules itself while it is still running is never skipped as a duplicate.

    Args:
        max_workers: the size of the worker pool (refresh jobs may block on the network, so more
            than one keeps a slow secret from delaying the others).
    """

    def __init__(self, *, max_workers: int = 2) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        self._max_workers = max_workers
        self._apscheduler = _apscheduler()
        self._lock = threading.Lock()
        self._jobs: dict[str, _Entry] = {}
        self._sequence = itertools.count()
        self._aps: Any = None
        self._closed = False
        _LIVE_SCHEDULERS.add(self)

    @property
    def running(self) -> bool:
        """Whether the background threads have been started and not shut down."""
        return self._aps is not None

    def schedule(self, job_id: str, run_at: float, func: Job) -> None:
        """Run ``func`` once at ``run_at`` (epoch seconds), replacing ``job_id``'s pending run.

        Raises:
            RuntimeError: the scheduler has been shut down.
        """
        _check_time(run_at)
        with self._lock:
            if self._closed:
                raise RuntimeError("the scheduler has been shut down")
            aps = self._ensure_started()
            old = self._jobs.get(job_id)
            entry = _Entry(run_at, func, f"{job_id}#{next(self._sequence)}")
            self._jobs[job_id] = entry
            if old is not None:
                self._remove_aps_job(aps, old)
            self._add_aps_job(aps, job_id, entry)

    def cancel(self, job_id: str) -> None:
        """Drop ``job_id``'s pending run, if any."""
        with self._lock:
            entry = self._jobs.pop(job_id, None)
            if entry is not None and self._aps is not None:
                self._remove_aps_job(self._aps, entry)

    def shutdown(self) -> None:
        """Drop all pending jobs and stop the threads without waiting for a running job. Idempotent."""
        with self._lock:
            self._closed = True
            self._jobs.clear()
            aps, self._aps = self._aps, None
        if aps is not None:
            aps.shutdown(wait=False)

    def next_run_at(self, job_id: str) -> float | None:
        """The pending run time of ``job_id`` in epoch seconds, or ``None``."""
        entry = self._jobs.get(job_id)
        return None if entry is None else entry.run_at

    # -- internals (called with self._lock held) ------------------------------------------------

    def _ensure_started(self) -> Any:
        if self._aps is None:
            parts = self._apscheduler
            aps = parts.Scheduler(
                timezone=timezone.utc,
                daemon=True,
                executors={"default": parts.ThreadPoolExecutor(max_workers=self._max_workers)},
                job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
            )
            aps.start()
            self._aps = aps
        return self._aps

    def _add_aps_job(self, aps: Any, job_id: str, entry: _Entry) -> None:
        aps.add_job(
            self._run,
            trigger=self._apscheduler.DateTrigger(
                run_date=datetime.fromtimestamp(entry.run_at, tz=timezone.utc), timezone=timezone.utc
            ),
            args=(job_id, entry),
            id=entry.aps_id,
            name=job_id,
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
        )

    def _remove_aps_job(self, aps: Any, entry: _Entry) -> None:
        try:
            aps.remove_job(entry.aps_id)
        except self._apscheduler.JobLookupError:
            pass  # it has just been dispatched; _run sees it was replaced and does nothing

    def _run(self, job_id: str, entry: _Entry) -> None:
        with self._lock:
            if self._jobs.get(job_id) is not entry:
                return  # replaced or cancelled after apscheduler had dispatched it
            del self._jobs[job_id]
        _run_guarded(job_id, entry.func)

    def _reset_after_fork(self) -> None:
        # The parent's apscheduler threads do not exist here and its locks may be held forever:
        # abandon that instance without touching it; the pending jobs move to a new one on restart.
        self._lock = threading.Lock()
        self._aps = None

    def _restart_after_fork(self) -> None:
        # Runs on the after-fork thread, possibly while the child's own code schedules: locked.
        with self._lock:
            if self._closed or not self._jobs:
                return
            aps = self._ensure_started()
            pending, self._jobs = self._jobs, {}
            for job_id, old in pending.items():
                entry = _Entry(old.run_at, old.func, f"{job_id}#{next(self._sequence)}")
                self._jobs[job_id] = entry
                self._add_aps_job(aps, job_id, entry)


class ManualScheduler(Scheduler):
    """A scheduler that runs jobs only when told to, for tests and simulations. Thread-safe.

    Jobs run in the thread calling :meth:`run_due`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, tuple[float, int, Job]] = {}
        self._sequence = itertools.count()
        self._closed = False

    def schedule(self, job_id: str, run_at: float, func: Job) -> None:
        """Record ``func`` to run at ``run_at`` (epoch seconds), replacing ``job_id``'s pending run."""
        _check_time(run_at)
        with self._lock:
            if self._closed:
                raise RuntimeError("the scheduler has been shut down")
            self._jobs[job_id] = (float(run_at), next(self._sequence), func)

    def cancel(self, job_id: str) -> None:
        """Drop ``job_id``'s pending run, if any."""
        with self._lock:
            self._jobs.pop(job_id, None)

    def shutdown(self) -> None:
        """Drop all jobs; later ``schedule`` calls raise ``RuntimeError``. Idempotent."""
        with self._lock:
            self._closed = True
            self._jobs.clear()

    def run_due(self, now: float) -> int:
        """Run, in time order, every job due at ``now``, including jobs that due jobs schedule.

        Returns:
            The number of jobs run. A job that raises is logged and counted.
        """
        count = 0
        while True:
            with self._lock:
                if not self._jobs:
                    return count
                job_id = min(self._jobs, key=lambda key: self._jobs[key][:2])
                if self._jobs[job_id][0] > now:
                    return count
                _, _, func = self._jobs.pop(job_id)
            _run_guarded(job_id, func)
            count += 1

    def next_run_at(self, job_id: str) -> float | None:
        """The pending run time of ``job_id`` in epoch seconds, or ``None``."""
        with self._lock:
            job = self._jobs.get(job_id)
        return None if job is None else job[0]

    def jobs(self) -> dict[str, float]:
        """A copy of the pending jobs: job id → run time in epoch seconds."""
        with self._lock:
            return {job_id: job[0] for job_id, job in self._jobs.items()}


# -- the process-wide shared instance ----------------------------------------------------------

_LIVE_SCHEDULERS: weakref.WeakSet[BackgroundScheduler] = weakref.WeakSet()
_shared_lock = threading.Lock()
_shared: BackgroundScheduler | None = None
_shared_refs = 0


def acquire_shared_scheduler() -> BackgroundScheduler:
    """Return the process-wide scheduler, creating it if needed, and add one reference to it.

    Every call must be matched by exactly one :func:`release_shared_scheduler`. Thread-safe.
    """
    global _shared, _shared_refs
    with _shared_lock:
        if _shared is None:
            _shared = BackgroundScheduler()
            _shared_refs = 0
        _shared_refs += 1
        return _shared


def release_shared_scheduler(scheduler: BackgroundScheduler) -> None:
    """Drop one reference to the shared scheduler; the last one shuts it down. Thread-safe.

    Releasing a scheduler that is no longer the shared one (it was already shut down) does nothing.
    """
    global _shared, _shared_refs
    with _shared_lock:
        if scheduler is not _shared:
            _LOGGER.debug("release of a scheduler that is not the shared one; ignored")
            return
        _shared_refs -= 1
        if _shared_refs > 0:
            return
        _shared, _shared_refs = None, 0
    scheduler.shutdown()


def _reset_after_fork() -> None:
    global _shared_lock
    _shared_lock = threading.Lock()
    for scheduler in list(_LIVE_SCHEDULERS):
        scheduler._reset_after_fork()


def _restart_after_fork() -> None:
    for scheduler in list(_LIVE_SCHEDULERS):
        scheduler._restart_after_fork()


on_fork_reset(_reset_after_fork)
on_fork_restart(_restart_after_fork)

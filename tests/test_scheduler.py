from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest

from common_plugin import scheduler as scheduler_module
from common_plugin.scheduler import (
    BackgroundScheduler,
    ManualScheduler,
    acquire_shared_scheduler,
    release_shared_scheduler,
)

WAIT = 30.0  # seconds; a safety net against a hang, never reached when the code works


# -- ManualScheduler -------------------------------------------------------------------------


def test_manual_runs_due_jobs_in_time_order_including_jobs_scheduled_by_jobs() -> None:
    sched = ManualScheduler()
    ran: list[str] = []

    def chained() -> None:
        ran.append("b")
        sched.schedule("c", 15.0, lambda: ran.append("c"))
        sched.schedule("late", 100.0, lambda: ran.append("late"))

    sched.schedule("b", 10.0, chained)
    sched.schedule("a", 5.0, lambda: ran.append("a"))
    sched.schedule("d", 20.0, lambda: ran.append("d"))
    assert sched.run_due(16.0) == 3
    assert ran == ["a", "b", "c"]
    assert sched.jobs() == {"d": 20.0, "late": 100.0}
    assert sched.next_run_at("d") == 20.0
    assert sched.next_run_at("missing") is None


def test_manual_replace_cancel_and_shutdown() -> None:
    sched = ManualScheduler()
    ran: list[str] = []
    sched.schedule("x", 5.0, lambda: ran.append("old"))
    sched.schedule("x", 50.0, lambda: ran.append("new"))
    assert sched.run_due(10.0) == 0
    sched.schedule("y", 1.0, lambda: ran.append("y"))
    sched.cancel("y")
    sched.cancel("never-scheduled")
    assert sched.run_due(60.0) == 1
    assert ran == ["new"]
    sched.shutdown()
    sched.shutdown()
    with pytest.raises(RuntimeError):
        sched.schedule("z", 1.0, lambda: None)


def test_manual_raising_job_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    sched = ManualScheduler()
    ran: list[str] = []

    def boom() -> None:
        raise KeyError("boom")

    sched.schedule("bad", 1.0, boom)
    sched.schedule("good", 2.0, lambda: ran.append("good"))
    with caplog.at_level(logging.WARNING, logger="common_plugin.scheduler"):
        assert sched.run_due(3.0) == 2
    assert ran == ["good"]
    record = next(r for r in caplog.records if "bad" in r.getMessage())
    assert record.levelno == logging.WARNING and record.exc_info is not None


def test_rejects_non_finite_times() -> None:
    with pytest.raises(ValueError):
        ManualScheduler().schedule("x", float("nan"), lambda: None)


# -- BackgroundScheduler ---------------------------------------------------------------------


@pytest.fixture
def background() -> Iterator[BackgroundScheduler]:
    sched = BackgroundScheduler()
    yield sched
    sched.shutdown()


def test_background_runs_a_job_at_an_epoch_time(background: BackgroundScheduler) -> None:
    done = threading.Event()
    background.schedule("soon", time.time() + 0.05, done.set)
    assert done.wait(WAIT)


def test_background_late_job_still_runs(background: BackgroundScheduler) -> None:
    done = threading.Event()
    background.schedule("late", time.time() - 3600, done.set)
    assert done.wait(WAIT)


def test_background_replace_and_cancel() -> None:
    # One worker, held busy by a gated job, so the order of events never depends on timing: "y"
    # is due at once but cannot run before the gate opens, and is cancelled before that (whether
    # apscheduler has already handed it to the pool or not); "z", due after it, runs after it.
    sched = BackgroundScheduler(max_workers=1)
    try:
        ran: list[str] = []
        done = threading.Event()
        sched.schedule("x", time.time() + 3600, lambda: ran.append("old"))

        def new() -> None:
            ran.append("new")
            done.set()

        sched.schedule("x", time.time(), new)
        assert done.wait(WAIT)
        assert sched.next_run_at("x") is None
        busy, gate = threading.Event(), threading.Event()
        sched.schedule("blocker", time.time() - 2, lambda: (busy.set(), gate.wait(WAIT)))
        assert busy.wait(WAIT)
        sched.schedule("y", time.time() - 1, lambda: ran.append("cancelled"))
        sched.cancel("y")
        after = threading.Event()
        sched.schedule("z", time.time(), after.set)
        gate.set()
        assert after.wait(WAIT)
        assert ran == ["new"]
        assert sched.next_run_at("y") is None
    finally:
        sched.shutdown()


def test_background_job_rescheduling_itself_while_running_is_not_skipped(
    background: BackgroundScheduler,
) -> None:
    runs: list[int] = []
    done = threading.Event()

    def job() -> None:
        runs.append(1)
        if len(runs) < 5:
            background.schedule("self", time.time() - 1, job)  # due before this run has finished
        else:
            done.set()

    background.schedule("self", time.time(), job)
    assert done.wait(WAIT)
    assert len(runs) == 5


def test_background_raising_job_does_not_kill_the_scheduler(
    background: BackgroundScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    done = threading.Event()

    def boom() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.WARNING, logger="common_plugin.scheduler"):
        background.schedule("bad", time.time(), boom)
        background.schedule("good", time.time() + 0.1, done.set)
        assert done.wait(WAIT)
    assert any("bad" in r.getMessage() and r.exc_info for r in caplog.records)


def _scheduler_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    # Only the threads this scheduler made (its loop and its pool's workers): other tests' threads
    # coming and going must not change the count.
    return [
        t
        for t in threading.enumerate()
        if t not in before and (t.name == "APScheduler" or t.name.startswith("ThreadPoolExecutor"))
    ]


def test_background_thread_count_stays_small(background: BackgroundScheduler) -> None:
    before = set(threading.enumerate())
    gate = threading.Event()
    started = threading.Semaphore(0)
    finished = threading.Semaphore(0)

    def job() -> None:
        started.release()
        gate.wait(WAIT)
        finished.release()

    for i in range(20):
        background.schedule(f"job{i}", time.time(), job)
    assert started.acquire(timeout=WAIT) and started.acquire(timeout=WAIT)  # both workers busy
    peak = len(_scheduler_threads(before))
    gate.set()
    for _ in range(20):
        assert finished.acquire(timeout=WAIT)
    assert peak == 3  # the APScheduler loop thread + 2 pool workers, whatever the number of jobs
    assert len(_scheduler_threads(before)) <= 3


def test_background_shutdown_is_idempotent_and_final() -> None:
    sched = BackgroundScheduler()
    sched.schedule("x", time.time() + 3600, lambda: None)
    assert sched.running
    sched.shutdown()
    sched.shutdown()
    assert not sched.running
    with pytest.raises(RuntimeError):
        sched.schedule("x", time.time(), lambda: None)


def test_shared_scheduler_reference_counting() -> None:
    a = acquire_shared_scheduler()
    b = acquire_shared_scheduler()
    assert a is b
    release_shared_scheduler(a)
    done = threading.Event()
    b.schedule("still-running", time.time(), done.set)
    assert done.wait(WAIT)
    release_shared_scheduler(b)
    assert not b.running
    with pytest.raises(RuntimeError):
        b.schedule("after-release", time.time(), lambda: None)
    release_shared_scheduler(b)  # a stale release is ignored
    c = acquire_shared_scheduler()
    try:
        assert c is not a
        again = threading.Event()
        c.schedule("new", time.time(), again.set)
        assert again.wait(WAIT)
    finally:
        release_shared_scheduler(c)
    assert scheduler_module._shared is None


def test_shutdown_racing_a_dispatch_does_not_kill_the_loop_thread() -> None:
    # Regression: apscheduler marks itself stopped before taking its job-store lock, so a dispatch
    # in progress used to die with JobLookupError in thread APScheduler (pytest turns that into an error).
    for i in range(30):
        sched = BackgroundScheduler()
        done = threading.Event()
        sched.schedule(f"job{i}", time.time(), done.set)
        assert done.wait(WAIT)
        sched.shutdown()

"""A closed-loop load generator with revokes in the middle, shared by our suite and the original's.

Standard library only, so ``_original_driver.py`` can use it under Python 3.10 with the original
suite's packages. ``call()`` makes one API call and raises on failure; ``rejected`` is a
thread-local whose ``hit`` attribute the caller's AK-expire handler sets when it judges an error a
rejected key, so each call is known to have crossed a revoke or not; whatever the caller leaves in
its ``detail`` attribute during a call is recorded with it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    """What happened: one record per call, in seconds since the start of the run."""

    starts: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    ok: list[bool] = field(default_factory=list)
    rejected: list[bool] = field(default_factory=list)
    details: list[object] = field(default_factory=list)
    revoked_at: list[float] = field(default_factory=list)
    fetches_per_revoke: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    t0: float = 0.0  # perf_counter() at the start, for callers' own timestamps


def run_load(
    call: Callable[[], None],
    rejected: threading.local,
    revoke: Callable[[], None],
    fetch_count: Callable[[], int],
    *,
    threads: int = 64,
    revoke_times: Sequence[float] = (1.5, 3.0, 4.5),
    duration: float = 6.0,
) -> LoadResult:
    """Run ``threads`` workers calling ``call`` in a loop for ``duration`` seconds, calling
    ``revoke()`` at each of ``revoke_times``; count fetches (``fetch_count()``) between revokes."""
    result = LoadResult()
    lock = threading.Lock()
    stop = threading.Event()
    start_barrier = threading.Barrier(threads + 1)
    t0 = 0.0

    def worker() -> None:
        local: list[tuple[float, float, bool, bool, object]] = []
        errors: list[str] = []
        start_barrier.wait()
        while not stop.is_set():
            rejected.hit = False
            rejected.detail = None
            began = time.perf_counter()
            try:
                call()
                ok = True
            except Exception as exc:  # noqa: BLE001 - every failure is counted and sampled
                ok = False
                if len(errors) < 3:
                    errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
            ended = time.perf_counter()
            local.append((began - t0, ended - began, ok, bool(rejected.hit), rejected.detail))
        with lock:
            for began, latency, ok, hit, detail in local:
                result.starts.append(began)
                result.latencies.append(latency)
                result.ok.append(ok)
                result.rejected.append(hit)
                result.details.append(detail)
            result.errors.extend(errors[: max(0, 5 - len(result.errors))])

    workers = [threading.Thread(target=worker, name=f"load-{i}") for i in range(threads)]
    for w in workers:
        w.start()
    t0 = result.t0 = time.perf_counter()
    start_barrier.wait()
    counts = []
    for at in revoke_times:
        time.sleep(max(0.0, at - (time.perf_counter() - t0)))
        counts.append(fetch_count())
        result.revoked_at.append(time.perf_counter() - t0)
        revoke()
    time.sleep(max(0.0, duration - (time.perf_counter() - t0)))
    stop.set()
    for w in workers:
        w.join()
    counts.append(fetch_count())
    result.fetches_per_revoke = [b - a for a, b in zip(counts, counts[1:], strict=False)]
    return result

"""Timing and statistics helpers shared by the benchmarks and the original suite's driver.

Standard library only: ``_original_driver.py`` runs in the original suite's Python 3.10 virtual
environment, where this project is not installed, and imports this module.
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import time
import timeit
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["gc_paused", "median", "percentile", "time_statement"]


def time_statement(
    stmt: str, namespace: dict[str, Any], *, number: int = 200_000, repeat: int = 7
) -> list[float]:
    """Per-execution cost of ``stmt`` in nanoseconds, one figure per sample.

    ``timeit`` compiles ``stmt`` into its loop, so a method call is measured without a wrapper
    call around it; the clock is ``time.perf_counter_ns``. GC is off during a sample (timeit's
    default). The loop's own overhead (a few ns) is included in every row alike.
    """
    timer = timeit.Timer(stmt, timer=time.perf_counter_ns, globals=namespace)
    timer.timeit(number=max(number // 10, 1))  # warm caches and specialisation
    return [timer.timeit(number=number) / number for _ in range(repeat)]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank) of ``values``; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()

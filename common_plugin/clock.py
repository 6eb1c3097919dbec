"""Clocks: the system clock and a manual clock that tests and simulations advance by hand.

All times are POSIX epoch seconds as ``float``.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """Something that tells the time in epoch seconds. Implementations must be thread-safe."""

    def time(self) -> float: ...


class SystemClock:
    """The wall clock (``time.time``)."""

    def time(self) -> float:
        return time.time()


SYSTEM_CLOCK = SystemClock()


class ManualClock:
    """A clock that only moves when told to. Thread-safe.

    Args:
        start: the initial time in epoch seconds (default: the current wall-clock time).
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else float(start)
        self._lock = threading.Lock()

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` and return the new time."""
        if seconds < 0:
            raise ValueError("a ManualClock only moves forward; seconds must be >= 0")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, now: float) -> None:
        """Jump to ``now`` (epoch seconds); it may not go backwards."""
        with self._lock:
            if now < self._now:
                raise ValueError("a ManualClock only moves forward")
            self._now = float(now)

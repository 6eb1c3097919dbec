"""Try several secret sources in order, failing over on retryable errors with bounded backoff,
within one deadline for the whole fetch."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

from ..credentials import SecretValue
from ..exceptions import FetchDeadlineError, SecretFetchError
from .base import SecretSource
from .deadline import deadline_scope

__all__ = ["FailoverSource"]

_LOGGER = logging.getLogger(__name__)


class FailoverSource(SecretSource):
    """Asks each source in turn until one answers.

    A retryable failure (network, 5xx, throttling, garbage) moves on to the next source at once;
    after a full round of failures it waits a full-jitter backoff before the next round. A
    non-retryable failure (no such secret, client key rejected) is raised immediately. At most
    ``max_attempts`` requests in all, and with ``total_timeout_seconds`` at most that long in all:
    each attempt runs in a :func:`~common_plugin.sources.deadline.deadline_scope` of the time left
    (a source that honours it, such as the gateway's, cuts its request short), no attempt starts
    and no backoff is slept once the time is gone, and the fetch then raises
    :class:`~common_plugin.exceptions.FetchDeadlineError`.

    Args:
        sources: tried in this order (DKMS instances first, then gateway regions, as configured).
        max_attempts: total requests per fetch (at least one per source is advisable).
        backoff_base_seconds / backoff_max_seconds: full jitter ``uniform(0, min(max, base * 2**round))``.
        total_timeout_seconds: the bound of one whole fetch (``fetch_timeout``), or ``None``.
        sleep: injectable for tests; the real one is ``time.sleep``.
        rng: injectable jitter source.
        monotonic: injectable clock of the total bound; the real one is ``time.monotonic``.

    Thread-safe when the sources are.
    """

    def __init__(
        self,
        sources: Sequence[SecretSource],
        *,
        max_attempts: int = 4,
        backoff_base_seconds: float = 0.2,
        backoff_max_seconds: float = 2.0,
        total_timeout_seconds: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not sources:
            raise ValueError("FailoverSource needs at least one source")
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if total_timeout_seconds is not None and not total_timeout_seconds > 0:
            raise ValueError("total_timeout_seconds must be > 0")
        self.sources = tuple(sources)
        self.max_attempts = max_attempts
        self.total_timeout_seconds = total_timeout_seconds
        self._monotonic = monotonic
        self._base = backoff_base_seconds
        self._max = backoff_max_seconds
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()

    def describe(self) -> str:
        return " | ".join(source.describe() for source in self.sources)

    def get_secret_value(self, secret_name: str) -> SecretValue:
        last: SecretFetchError | None = None
        count = len(self.sources)
        total = self.total_timeout_seconds
        deadline = None if total is None else self._monotonic() + total
        for attempt in range(self.max_attempts):
            source = self.sources[attempt % count]
            delay = 0.0
            if attempt and attempt % count == 0:
                rounds = attempt // count
                delay = self._rng.uniform(0.0, min(self._max, self._base * 2 ** (rounds - 1)))
            left = None if deadline is None else deadline - self._monotonic()
            if left is not None and left <= delay:  # no time for the backoff, let alone the attempt
                raise self._out_of_time(secret_name, attempt, last)
            if delay:
                self._sleep(delay)
                left = None if left is None else left - delay
            try:
                if left is None:
                    value = source.get_secret_value(secret_name)
                else:
                    with deadline_scope(left):
                        value = source.get_secret_value(secret_name)
            except SecretFetchError as exc:
                self._count(failed=True, failover=exc.retryable and attempt + 1 < self.max_attempts)
                if not exc.retryable:
                    raise
                last = exc
                _LOGGER.info(
                    "GetSecretValue for %s failed at %s (%s); trying %s",
                    secret_name,
                    source.describe(),
                    exc.code,
                    "the next source" if attempt + 1 < self.max_attempts else "nothing more",
                )
                continue
            self._count(failed=False, failover=False)
            return value
        assert last is not None  # noqa: S101 - the loop ran at least once and only retryable errors reach here
        message = (
            f"GetSecretValue for {secret_name!r} failed on every configured source after "
            f"{self.max_attempts} attempts; last error: {last}"
        )
        if isinstance(last, FetchDeadlineError):  # keep the type: the caller may treat time-outs apart
            raise FetchDeadlineError(message, secret_name=secret_name, timeout_seconds=last.timeout_seconds)
        raise SecretFetchError(
            message,
            secret_name=secret_name,
            code=last.code,
            http_status=last.http_status,
            retryable=True,
        ) from None

    def _out_of_time(
        self, secret_name: str, attempts: int, last: SecretFetchError | None
    ) -> FetchDeadlineError:
        total = self.total_timeout_seconds or 0.0
        return FetchDeadlineError(
            f"GetSecretValue for {secret_name!r} got no answer within fetch_timeout={total:g}s "
            f"({attempts} attempt{'' if attempts == 1 else 's'}); last error: {last}. Check the "
            "endpoints and the network, or raise fetch_timeout",
            secret_name=secret_name,
            timeout_seconds=total,
        )

    def _count(self, *, failed: bool, failover: bool) -> None:
        with self._stats_lock:
            self._stats["requests"] += 1
            self._stats["request_failures"] += failed
            self._stats["failovers"] += failover

    def stats(self) -> dict[str, int]:
        """``requests`` sent, ``request_failures`` among them, and ``failovers`` to another attempt."""
        with self._stats_lock:
            return {key: self._stats[key] for key in ("requests", "request_failures", "failovers")}

    def after_fork(self) -> None:
        self._stats_lock = threading.Lock()
        for source in self.sources:
            source.after_fork()

    def close(self) -> None:
        for source in self.sources:
            source.close()

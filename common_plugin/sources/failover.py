"""Try several secret sources in order, failing over on retryable errors with bounded backoff."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

from ..credentials import SecretValue
from ..exceptions import SecretFetchError
from .base import SecretSource

__all__ = ["FailoverSource"]

_LOGGER = logging.getLogger(__name__)


class FailoverSource(SecretSource):
    """Asks each source in turn until one answers.

    A retryable failure (network, 5xx, throttling, garbage) moves on to the next source at once;
    after a full round of failures it waits a full-jitter backoff before the next round. A
    non-retryable failure (no such secret, client key rejected) is raised immediately. At most
    ``max_attempts`` requests in all, so a fetch is always bounded.

    Args:
        sources: tried in this order (DKMS instances first, then gateway regions, as configured).
        max_attempts: total requests per fetch (at least one per source is advisable).
        backoff_base_seconds / backoff_max_seconds: full jitter ``uniform(0, min(max, base * 2**round))``.
        sleep: injectable for tests; the real one is ``time.sleep``.
        rng: injectable jitter source.

    Thread-safe when the sources are.
    """

    def __init__(
        self,
        sources: Sequence[SecretSource],
        *,
        max_attempts: int = 4,
        backoff_base_seconds: float = 0.2,
        backoff_max_seconds: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not sources:
            raise ValueError("FailoverSource needs at least one source")
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.sources = tuple(sources)
        self.max_attempts = max_attempts
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
        for attempt in range(self.max_attempts):
            source = self.sources[attempt % count]
            if attempt and attempt % count == 0:
                rounds = attempt // count
                self._sleep(self._rng.uniform(0.0, min(self._max, self._base * 2 ** (rounds - 1))))
            try:
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
        raise SecretFetchError(
            f"GetSecretValue for {secret_name!r} failed on every configured source after "
            f"{self.max_attempts} attempts; last error: {last}",
            secret_name=secret_name,
            code=last.code,
            http_status=last.http_status,
            retryable=True,
        ) from None

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

"""Status, counters and events of a :class:`~common_plugin.provider.CredentialsProvider`.

Operators ask three questions when a rotation goes wrong: is the key this process holds still
fresh, when did the last refresh succeed, and how often is Secrets Manager failing or throttling us.
:meth:`CredentialsProvider.status` answers them; :meth:`CredentialsProvider.add_event_listener`
lets an application feed its own metrics. Nothing here ever holds a secret: keys appear masked and
errors by type and code only.

Thread-safe. Counting costs the hot path one ``next()`` on an ``itertools.count`` (about 20 ns).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .ak_expire_handler import error_code_of
from .credentials import ManagedCredential, same_key

__all__ = ["CredentialEvent", "EventKind", "EventListener", "ProviderStatus", "SecretStatus", "Telemetry"]

_LOGGER = logging.getLogger(__name__)


class EventKind(str, Enum):
    """What happened to a secret."""

    FETCH_SUCCEEDED = "fetch_succeeded"
    FETCH_FAILED = "fetch_failed"
    ROTATION_PICKED_UP = "rotation_picked_up"
    KEY_REJECTED = "key_rejected"
    RETRY_PERFORMED = "retry_performed"
    STALE_STARTED = "stale_started"
    STALE_ENDED = "stale_ended"


@dataclass(frozen=True)
class CredentialEvent:
    """One event. ``masked_access_key_id`` is ``LTAI****abcd``; errors are given by type and code."""

    kind: EventKind
    secret_name: str
    at: float
    reason: str = ""  # initial | proactive | mandatory | forced | reactive (for fetches)
    masked_access_key_id: str | None = None
    version_id: str | None = None
    error_type: str | None = None
    error_code: str | None = None


EventListener = Callable[[CredentialEvent], None]


@dataclass(frozen=True)
class SecretStatus:
    """The health of one cached secret. Times are epoch seconds, ``None`` when not (yet) known."""

    secret_name: str
    masked_access_key_id: str | None
    version_id: str | None
    fetched_at: float | None
    next_refresh_at: float | None
    last_success_at: float | None
    consecutive_failures: int
    last_error_type: str | None
    last_error_code: str | None
    last_error_at: float | None
    stale_since: float | None  # serving a key whose refresh is failing, since when

    @property
    def stale(self) -> bool:
        return self.stale_since is not None


@dataclass(frozen=True)
class ProviderStatus:
    """A point-in-time view of a provider.

    ``counters``: ``reads``, ``fetches`` (GetSecretValue calls the provider made, each possibly
    several requests across instances), ``fetch_failures``, ``throttled``, ``reactive_refreshes``
    (rejections reported by clients), ``retries`` (calls clients retried with a new key),
    ``rotations`` (new keys picked up after the first: the AccessKeyId, secret or token changed),
    ``store_hits`` (values taken from the on-disk cache instead of fetching). ``failures_by_code``:
    fetch failures by service error code. ``source``: request-level figures of the source, when it keeps any.
    """

    secrets: dict[str, SecretStatus]
    counters: dict[str, int]
    failures_by_code: dict[str, int]
    source: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (times as epoch seconds), holding no secret: for status endpoints."""
        return {
            "secrets": {name: dataclasses.asdict(health) for name, health in sorted(self.secrets.items())},
            "counters": dict(sorted(self.counters.items())),
            "failures_by_code": dict(sorted(self.failures_by_code.items())),
            "source": dict(sorted(self.source.items())),
        }


@dataclass
class _Health:
    fetched_at: float | None = None
    masked_id: str | None = None
    version_id: str | None = None
    last_success_at: float | None = None
    failures: int = 0
    last_error_type: str | None = None
    last_error_code: str | None = None
    last_error_at: float | None = None
    stale_since: float | None = None


def _count_value(counter: itertools.count[int]) -> int:
    # itertools.count has no read accessor; its repr is documented as "count(n)".
    return int(repr(counter)[6:-1])


class Telemetry:
    """The bookkeeping behind :class:`ProviderStatus` and the events. Used by the provider only."""

    def __init__(self) -> None:
        self.reads = itertools.count()
        self._lock = threading.Lock()
        self._counters: Counter[str] = Counter()
        self._failures_by_code: Counter[str] = Counter()
        self._health: dict[str, _Health] = {}
        self._listeners: tuple[EventListener, ...] = ()

    def reset_after_fork(self) -> None:
        """In a forked child: a fresh lock (the parent's may be held by a thread that is gone)."""
        self._lock = threading.Lock()

    # -- listeners -----------------------------------------------------------------------------

    def add_listener(self, listener: EventListener) -> Callable[[], None]:
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = tuple(item for item in self._listeners if item is not listener)

        return unsubscribe

    def _emit(self, event: CredentialEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                _LOGGER.warning(
                    "an event listener raised for secret %s; ignored", event.secret_name, exc_info=True
                )

    # -- recording (called outside the provider's locks) ----------------------------------------

    def fetch_succeeded(
        self,
        name: str,
        cred: ManagedCredential,
        old: ManagedCredential | None,
        reason: str,
        now: float,
        from_store: bool = False,
    ) -> None:
        with self._lock:
            self._counters["store_hits" if from_store else "fetches"] += 1
            health = self._health.setdefault(name, _Health())
            was_stale = health.stale_since is not None
            health.fetched_at = cred.fetched_at
            health.masked_id = cred.masked_access_key_id
            health.version_id = cred.version_id
            health.last_success_at = now
            health.failures = 0
            health.stale_since = None
            # The same rule as the key-change listeners: a new secret or token under the same id
            # is a rotation too.
            rotated = old is not None and not same_key(old, cred)
            if rotated:
                self._counters["rotations"] += 1
        common = {"masked_access_key_id": cred.masked_access_key_id, "version_id": cred.version_id}
        self._emit(CredentialEvent(EventKind.FETCH_SUCCEEDED, name, now, reason, **common))
        if rotated:
            self._emit(CredentialEvent(EventKind.ROTATION_PICKED_UP, name, now, reason, **common))
        if was_stale:
            self._emit(CredentialEvent(EventKind.STALE_ENDED, name, now, reason, **common))

    def fetch_failed(self, name: str, error: BaseException, reason: str, now: float, serving: bool) -> None:
        """``serving``: a cached key is still being served (so the process is now stale)."""
        code = error_code_of(error) or type(error).__name__
        throttled = "Throttling" in code
        with self._lock:
            self._counters["fetches"] += 1
            self._counters["fetch_failures"] += 1
            if throttled:
                self._counters["throttled"] += 1
            self._failures_by_code[code] += 1
            health = self._health.setdefault(name, _Health())
            health.failures += 1
            health.last_error_type = type(error).__name__
            health.last_error_code = code
            health.last_error_at = now
            started = serving and reason == "proactive" and health.stale_since is None
            if started:
                health.stale_since = now
        self._emit(
            CredentialEvent(
                EventKind.FETCH_FAILED, name, now, reason, error_type=type(error).__name__, error_code=code
            )
        )
        if started:
            self._emit(CredentialEvent(EventKind.STALE_STARTED, name, now, reason))

    def key_rejected(self, name: str, rejected: ManagedCredential, now: float) -> None:
        with self._lock:
            self._counters["reactive_refreshes"] += 1
        self._emit(
            CredentialEvent(
                EventKind.KEY_REJECTED,
                name,
                now,
                "reactive",
                masked_access_key_id=rejected.masked_access_key_id,
                version_id=rejected.version_id,
            )
        )

    def retry_performed(self, name: str, cred: ManagedCredential, now: float) -> None:
        with self._lock:
            self._counters["retries"] += 1
        self._emit(
            CredentialEvent(
                EventKind.RETRY_PERFORMED,
                name,
                now,
                "reactive",
                masked_access_key_id=cred.masked_access_key_id,
                version_id=cred.version_id,
            )
        )

    def forget(self, name: str) -> None:
        with self._lock:
            self._health.pop(name, None)

    # -- reading -------------------------------------------------------------------------------

    def snapshot(self, next_refresh: dict[str, float | None], source: dict[str, int]) -> ProviderStatus:
        with self._lock:
            counters = {
                key: self._counters[key]
                for key in (
                    "fetches",
                    "fetch_failures",
                    "throttled",
                    "reactive_refreshes",
                    "retries",
                    "rotations",
                    "store_hits",
                )
            }
            secrets = {
                name: SecretStatus(
                    secret_name=name,
                    masked_access_key_id=h.masked_id,
                    version_id=h.version_id,
                    fetched_at=h.fetched_at,
                    next_refresh_at=next_refresh.get(name),
                    last_success_at=h.last_success_at,
                    consecutive_failures=h.failures,
                    last_error_type=h.last_error_type,
                    last_error_code=h.last_error_code,
                    last_error_at=h.last_error_at,
                    stale_since=h.stale_since,
                )
                for name, h in self._health.items()
            }
            failures = dict(self._failures_by_code)
        counters["reads"] = _count_value(self.reads)
        return ProviderStatus(secrets=secrets, counters=counters, failures_by_code=failures, source=source)

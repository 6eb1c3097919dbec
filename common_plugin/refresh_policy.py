"""When to refresh a cached credential, and how long to wait after a failed refresh.

Pure functions of a credential, the current time and a random generator, so that schedules are
trivially testable with a fixed seed. All times are POSIX epoch seconds; all durations are seconds.

An expiring (STS) credential has two windows before its ``ExpireTimestamp``, as in botocore:

* the **advisory** window starts :meth:`RefreshPolicy.refresh_due_at`: the background job refreshes
  (and :meth:`RefreshPolicy.is_fresh` says a stored copy is no longer worth using); readers keep
  getting the cached key without waiting, through any outage;
* the **mandatory** window starts :meth:`RefreshPolicy.mandatory_refresh_at`, shortly before expiry:
  ``CredentialsProvider.get`` refreshes synchronously (one fetch for all waiting threads) before it
  hands the key out, serves the old key only while it has not expired, and refuses it after.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, fields

from .credentials import ManagedCredential
from .exceptions import ConfigError

__all__ = ["RefreshPolicy"]

# Cap on the backoff exponent: 2**62 already exceeds any sane maximum, and a larger exponent
# would overflow a float.
_MAX_BACKOFF_EXPONENT = 62


@dataclass(frozen=True)
class RefreshPolicy:
    """The refresh schedule of a managed credential. Immutable, hence thread-safe.

    Attributes:
        default_interval_seconds: refresh at least this often after a fetch, whatever the secret says.
        min_interval_seconds: never schedule a proactive refresh sooner than this after now, so a
            secret with odd dates cannot cause a hot loop.
        rotation_delay_seconds: fetch this long after ``NextRotationDate`` /
            ``ScheduleRotateTimestamp``, so that the new version is already ACSCurrent.
        rotation_spread_seconds: a uniform random delay in ``[0, spread]`` added to a rotation-based
            refresh (drawn afresh each time) so that many processes do not fetch at once.
        rotation_spread_fraction: widen that spread to this fraction of the secret's
            ``RotationInterval`` (0 = off). A RAM user has two AccessKey slots and a rotation only
            deletes the older one, so the replaced key stays valid until the next rotation; a large
            fleet can spread its pick-up over most of the interval (0.9 measured 1.6x peak/mean KMS
            load over 1,000 processes, against 23x with the default 5-minute spread).
        jitter_fraction: an interval-based refresh happens early by a uniform random fraction of
            the interval in ``[0, jitter_fraction]`` (drawn afresh each time).
        expiry_margin_seconds: refresh an expiring (STS) credential at least this long before
            ``ExpireTimestamp`` (the advisory window).
        expiry_margin_fraction: ... or this fraction of its lifetime before, whichever is larger.
        mandatory_margin_seconds: from this long before ``ExpireTimestamp`` (never earlier than the
            advisory window), ``CredentialsProvider.get`` refreshes synchronously before handing
            the key out (the mandatory window).
        mandatory_retry_seconds: in the mandatory window, after a synchronous refresh failed (or
            returned a key already in the window), ``get`` serves the still-valid key this long
            before it tries again, so an outage does not put a fetch in front of every call.
        backoff_base_seconds: the first retry after a failed refresh waits up to twice this.
        backoff_max_seconds: the cap of the retry delay.
        rejected_backoff_seconds: after a reactive fetch returned the very key the cloud had just
            rejected (or failed), further reactive fetches for that same key are suppressed for
            this long.
    """

    default_interval_seconds: float = 6 * 3600.0
    min_interval_seconds: float = 60.0
    rotation_delay_seconds: float = 60.0
    rotation_spread_seconds: float = 300.0
    rotation_spread_fraction: float = 0.0
    jitter_fraction: float = 0.1
    expiry_margin_seconds: float = 300.0
    expiry_margin_fraction: float = 0.1
    mandatory_margin_seconds: float = 120.0
    mandatory_retry_seconds: float = 10.0
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    rejected_backoff_seconds: float = 5.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"RefreshPolicy.{f.name} must be a number of seconds", key=f.name)
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"RefreshPolicy.{f.name} must be finite and >= 0", key=f.name)
        if self.default_interval_seconds <= 0:
            raise ConfigError(
                "RefreshPolicy.default_interval_seconds must be > 0", key="default_interval_seconds"
            )
        for name in ("jitter_fraction", "expiry_margin_fraction", "rotation_spread_fraction"):
            if getattr(self, name) >= 1:
                raise ConfigError(f"RefreshPolicy.{name} must be in [0, 1)", key=name)

    def next_refresh_at(self, cred: ManagedCredential, now: float, rng: random.Random) -> float:
        """Return the epoch time of the next proactive refresh of ``cred``.

        Candidates, of which the earliest wins:

        * ``next_rotation_at`` and ``schedule_rotate_at``, plus ``rotation_delay_seconds`` and a
          fresh uniform spread. A rotation time whose delayed time has already passed is stale
          (rotation disabled, or the server has not moved it yet) and is ignored.
        * :meth:`refresh_due_at`, the start of the advisory window. An already expiring credential
          is due now.
        * ``fetched_at`` plus the secret's ``RefreshInterval``, its ``RotationInterval`` and
          ``default_interval_seconds``, each made early by a fresh jitter. An overdue one is due now.
          ``RotationInterval`` only stands in for a missing rotation date, and
          ``default_interval_seconds`` is skipped while a known rotation is less than two default
          intervals away: refreshing one interval after the fetch would come just *before* the
          rotation and fetch the old key again.

        The result is never earlier than ``now + min_interval_seconds``.
        """
        candidates: list[float] = []
        spread = self.rotation_spread_seconds
        if cred.rotation_interval_seconds:
            spread = max(spread, self.rotation_spread_fraction * cred.rotation_interval_seconds)
        for rotation_at in (cred.next_rotation_at, cred.schedule_rotate_at):
            if rotation_at is None:
                continue
            target = rotation_at + self.rotation_delay_seconds
            if target > now:
                candidates.append(target + rng.uniform(0.0, spread))
        # A known rotation soon enough makes the interval fallbacks redundant: firing one interval
        # after the fetch would land just before the rotation and fetch the old key again.
        rotation_known = bool(candidates)
        rotation_soon = rotation_known and min(candidates) <= now + 2 * self.default_interval_seconds
        due_at = self.refresh_due_at(cred)
        if due_at is not None:
            candidates.append(max(due_at, now))
        for interval in (
            cred.refresh_interval_seconds,
            None if rotation_known else cred.rotation_interval_seconds,
            None if rotation_soon else self.default_interval_seconds,
        ):
            if interval is None or interval <= 0:
                continue
            early_by = rng.uniform(0.0, self.jitter_fraction * interval)
            candidates.append(max(cred.fetched_at + interval - early_by, now))
        return max(min(candidates), now + self.min_interval_seconds)

    def refresh_due_at(self, cred: ManagedCredential) -> float | None:
        """The start of the advisory window of an expiring credential, or ``None`` if it never expires.

        ``expires_at`` minus the larger of ``expiry_margin_seconds`` and ``expiry_margin_fraction``
        of the token's lifetime (from ``GenerateTimestamp``, else from when it was fetched). The one
        definition of the expiry margin: :meth:`next_refresh_at` schedules the background refresh
        at this time, and :meth:`is_fresh` stops trusting a stored copy from it.
        """
        if cred.expires_at is None:
            return None
        issued_at = cred.generated_at if cred.generated_at is not None else cred.fetched_at
        lifetime = max(cred.expires_at - issued_at, 0.0)
        return cred.expires_at - max(self.expiry_margin_seconds, self.expiry_margin_fraction * lifetime)

    def mandatory_refresh_at(self, cred: ManagedCredential) -> float:
        """From when ``CredentialsProvider.get`` must refresh ``cred`` before handing it out.

        ``math.inf`` for a credential that never expires (a RAM user's AccessKey). For an STS token:
        ``expires_at - mandatory_margin_seconds``, but not before the advisory window starts, not
        sooner than ``mandatory_retry_seconds`` after the fetch (a token issued inside the window is
        served a while rather than fetched again at every call) and never after ``expires_at``.
        """
        due_at = self.refresh_due_at(cred)
        if due_at is None or cred.expires_at is None:
            return math.inf
        start = max(due_at, cred.expires_at - self.mandatory_margin_seconds)
        return min(cred.expires_at, max(start, cred.fetched_at + self.mandatory_retry_seconds))

    def mandatory_retry_at(self, cred: ManagedCredential, now: float) -> float:
        """After a synchronous refresh of ``cred`` failed at ``now``: when ``get`` tries again.

        ``now + mandatory_retry_seconds``, never after ``expires_at`` (past which ``get`` refuses
        the key and tries at every call).
        """
        expires_at = math.inf if cred.expires_at is None else cred.expires_at
        return min(expires_at, now + self.mandatory_retry_seconds)

    def is_fresh(self, cred: ManagedCredential, now: float) -> bool:
        """Whether a value fetched earlier (by another process, or before a restart) may be used now.

        Not if its STS token has reached its advisory window (:meth:`refresh_due_at`), if a rotation
        it predates (its ``NextRotationDate``/``ScheduleRotateTimestamp`` plus the delay) has come,
        or if it is older than its ``RefreshInterval`` or ``default_interval_seconds``.
        """
        due_at = self.refresh_due_at(cred)
        if due_at is not None and due_at <= now:
            return False
        for rotation_at in (cred.next_rotation_at, cred.schedule_rotate_at):
            if rotation_at is not None and rotation_at + self.rotation_delay_seconds <= now:
                return False
        max_age = min(
            self.default_interval_seconds, cred.refresh_interval_seconds or self.default_interval_seconds
        )
        return now - cred.fetched_at < max_age

    def retry_delay(self, attempt: int, rng: random.Random) -> float:
        """Return the delay in seconds before retrying after ``attempt`` consecutive failures.

        Full jitter: ``uniform(0, min(backoff_max_seconds, backoff_base_seconds * 2**attempt))``.
        """
        exponent = min(max(attempt, 0), _MAX_BACKOFF_EXPONENT)
        cap = min(self.backoff_max_seconds, self.backoff_base_seconds * 2.0**exponent)
        return rng.uniform(0.0, cap)

"""Per-secret bookkeeping of :class:`~common_plugin.provider.CredentialsProvider` (private).

A :class:`Flight` is one fetch in progress that the threads needing its result wait on; a
:class:`SecretState` holds what the provider knows about one secret, guarded by its own lock, which
is never held across network I/O.
"""

from __future__ import annotations

import threading

from .credentials import ManagedCredential

__all__ = ["Flight", "SecretState"]


class Flight:
    """One fetch in progress; the threads that need its result wait for it."""

    __slots__ = ("_done", "_error", "_result", "for_rejected")

    def __init__(self, for_rejected: ManagedCredential | None = None) -> None:
        self.for_rejected = for_rejected  # the rejected key this fetch was started to replace
        self._done = threading.Event()
        self._result: ManagedCredential | None = None
        self._error: BaseException | None = None

    def resolve(self, result: ManagedCredential | None, error: BaseException | None) -> None:
        self._result, self._error = result, error
        self._done.set()

    def wait(self) -> ManagedCredential:
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._result is not None  # noqa: S101 - resolve() sets one of the two
        return self._result


class SecretState:
    """Per-secret bookkeeping; every field is guarded by ``lock``, never held across I/O."""

    __slots__ = (
        "chain_active",
        "failures",
        "flight",
        "forgotten",
        "job_id",
        "last",
        "lock",
        "name",
        "rejected",
        "scheduled_at",
        "suppressed_key",
        "suppressed_until",
    )

    def __init__(self, name: str, job_id: str) -> None:
        self.name = name
        self.job_id = job_id
        self.lock = threading.Lock()
        self.flight: Flight | None = None
        self.last: ManagedCredential | None = None  # the last key installed, even if since dropped
        self.failures = 0
        self.suppressed_key: ManagedCredential | None = None
        self.rejected: ManagedCredential | None = None  # the last key a cloud API rejected
        self.suppressed_until = 0.0
        self.chain_active = False
        self.scheduled_at: float | None = None
        self.forgotten = False

"""Recovering after ``os.fork()``, in two ordered phases (private).

In a forked child only the forking thread exists: every lock another thread held stays held forever,
and background threads and pooled connections are gone or shared with the parent. Objects register
two kinds of callbacks, and the child runs them in order:

1. **reset**: replace locks, forget fetches in flight, drop pooled connections; start nothing;
2. **restart**: start background threads and re-schedule work, now that no lock can be stale.

Doing all resets first matters: a scheduler restarted before a provider's locks are replaced could
run a refresh job that blocks forever on a lock inherited held.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

__all__ = ["on_fork_reset", "on_fork_restart"]

_LOGGER = logging.getLogger(__name__)
_RESET: list[Callable[[], None]] = []
_RESTART: list[Callable[[], None]] = []


def on_fork_reset(callback: Callable[[], None]) -> None:
    """Run ``callback`` first in a forked child (module-level hooks; register at import)."""
    _RESET.append(callback)


def on_fork_restart(callback: Callable[[], None]) -> None:
    """Run ``callback`` in a forked child after every reset callback."""
    _RESTART.append(callback)


def _run(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:  # noqa: BLE001 - one failing hook must not stop the others
            _LOGGER.warning("an after-fork hook failed in the child process", exc_info=True)


def _after_fork_in_child() -> None:
    _run(list(_RESET))
    if _RESTART:
        # Restarting starts threads and makes the SDKs log. Neither belongs inside os.fork(): a
        # logging handler's stream lock held by a parent thread at fork time is never released in
        # the child, and blocking on it here would hang fork() itself.
        threading.Thread(
            target=_run, args=(list(_RESTART),), name="managed-credentials-after-fork", daemon=True
        ).start()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

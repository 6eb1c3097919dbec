"""The deadline of the fetch in progress, shared by the layers that make it.

A fetch has two bounds: each request (``request_timeout``: connect, TLS handshake, send and receive
together) and the whole fetch (``fetch_timeout``: every attempt and the backoff between them).
:class:`~common_plugin.sources.failover.FailoverSource` opens a :func:`deadline_scope` for what is
left of the whole fetch; a source opens one for its request inside it; the nearer one wins. A
transport reads :func:`current_deadline` at every blocking socket operation, so the bound holds
however slowly a server trickles its answer, and without a deadline argument on
:meth:`SecretSource.get_secret_value <common_plugin.sources.base.SecretSource.get_secret_value>`.

The deadline lives in a :class:`contextvars.ContextVar`: it belongs to the thread (or task) making
the fetch and is never seen by another. Times are ``time.monotonic()`` seconds.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["current_deadline", "deadline_scope", "seconds_left"]

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "common_plugin_fetch_deadline", default=None
)


@contextmanager
def deadline_scope(seconds: float) -> Iterator[float]:
    """Bound what runs inside to ``seconds`` from now, or to an enclosing scope's deadline if nearer.

    Yields:
        The deadline in force, on the ``time.monotonic()`` clock.
    """
    at = time.monotonic() + seconds
    outer = _DEADLINE.get()
    if outer is not None and outer < at:
        at = outer
    token = _DEADLINE.set(at)
    try:
        yield at
    finally:
        _DEADLINE.reset(token)


def current_deadline() -> float | None:
    """The deadline in force in this context (``time.monotonic()`` seconds), or ``None``."""
    return _DEADLINE.get()


def seconds_left() -> float | None:
    """Seconds until the deadline in force (``<= 0`` once passed), or ``None`` without one."""
    at = _DEADLINE.get()
    return None if at is None else at - time.monotonic()

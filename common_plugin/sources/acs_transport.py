"""A deadline on every request ``AcsClient`` sends: one total bound, not a timeout per socket read.

aliyunsdkcore sends through its vendored ``requests`` (2.18) and ``urllib3`` (1.24), whose timeouts
bound each ``connect()`` and each ``recv()``; a server that sends one byte every half second keeps a
request alive indefinitely. :func:`install_deadline_transport` mounts, on the client's own session,
a transport whose sockets read the deadline of the fetch in progress
(:func:`~common_plugin.sources.deadline.current_deadline`) before every blocking operation:

* ``connect`` gets ``min(connect timeout, time left)``, which also bounds the TLS handshake as a
  whole (CPython applies a socket's timeout to the entire handshake);
* every later ``recv``/``send`` on the (TLS or plain) socket gets ``min(read timeout, time left)``,
  and raises ``TimeoutError`` (``socket.timeout``) at once when none is left, so the status line,
  the headers and the body together finish by the deadline. A socket timeout is what urllib3
  already expects from a slow server: it becomes ``ReadTimeout`` -> ``SDK.HttpError``, the
  connection is discarded, and nothing else in the SDK changes.

Why this design rather than a watchdog that closes the socket from another thread: the deadline is
enforced in the thread that blocks, by the operating system's own timeout, so there is no race with
a connection being handed back to the pool or reused, no extra thread per request, and no socket
closed under an unrelated request. Why not ``stream=True`` and a read loop of our own: the status
line and headers are read inside ``Session.send``, before any such loop could run.

Extension points used, all public in requests/urllib3: ``HTTPAdapter.init_poolmanager`` /
``proxy_manager_for``, ``PoolManager.pool_classes_by_scheme``, ``HTTPConnectionPool.ConnectionCls``
and ``HTTPConnection.connect``. Checked against aliyun-python-sdk-core 2.16.1 (vendored requests
2.18.3, urllib3 1.24.3); ``tests/test_deadlines.py`` pins them. A SOCKS proxy keeps the SDK's
per-read timeouts only.

Thread-safety: the deadline is per context (thread), so one session serves concurrent fetches.
"""

from __future__ import annotations

import functools
import io
import time
from typing import Any

from .deadline import current_deadline

__all__ = ["install_deadline_transport"]


class _DeadlineSocket:
    """A connected socket (TLS or plain) whose blocking operations end by the current deadline.

    Mirrors ``socket.socket``'s file reference counting: ``close()`` with a file from
    :meth:`makefile` still open closes the real socket only when that file is closed, because
    ``http.client`` closes a ``Connection: close`` connection before reading the response body.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._timeout: float | None = sock.gettimeout()  # the SDK's own per-operation timeout
        self._io_refs = 0
        self._closed = False

    def _arm(self) -> None:
        timeout = self._timeout
        deadline = current_deadline()
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request's deadline has passed")
            timeout = left if timeout is None else min(timeout, left)
        self._sock.settimeout(timeout)

    def settimeout(self, timeout: float | None) -> None:
        self._timeout = timeout
        self._sock.settimeout(timeout)

    def gettimeout(self) -> float | None:
        return self._timeout

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._arm()
        return int(self._sock.recv_into(buffer, nbytes, flags))

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self._arm()
        return bytes(self._sock.recv(bufsize, flags))

    def send(self, data: Any, flags: int = 0) -> int:
        self._arm()
        return int(self._sock.send(data, flags))

    def sendall(self, data: Any, flags: int = 0) -> None:
        # send() in a loop rather than sendall(): a TLS socket's sendall applies its timeout per chunk.
        view = memoryview(data).cast("B")
        while view:
            view = view[self.send(view, flags) :]

    def makefile(self, mode: str = "r", buffering: int | None = None, **_: Any) -> io.BufferedReader:
        if mode not in ("r", "rb"):
            raise ValueError(f"unsupported makefile mode {mode!r} on a deadline socket")
        self._io_refs += 1
        return io.BufferedReader(_SocketReader(self), buffering or io.DEFAULT_BUFFER_SIZE)

    def _release_file(self) -> None:
        self._io_refs -= 1
        if self._closed and self._io_refs <= 0:
            self._sock.close()

    def close(self) -> None:
        self._closed = True
        if self._io_refs <= 0:
            self._sock.close()

    def __getattr__(self, name: str) -> Any:  # fileno, setsockopt, getpeercert, shutdown, ...
        return getattr(self._sock, name)


class _SocketReader(io.RawIOBase):
    """The raw stream under ``makefile('rb')``: every read goes through the deadline."""

    def __init__(self, sock: _DeadlineSocket) -> None:
        self._socket: _DeadlineSocket | None = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._socket is None:
            raise ValueError("I/O operation on a closed socket file")
        return self._socket.recv_into(buffer)

    def fileno(self) -> int:
        if self._socket is None:
            raise ValueError("I/O operation on a closed socket file")
        return int(self._socket.fileno())

    def close(self) -> None:
        if self._socket is not None:
            sock, self._socket = self._socket, None
            sock._release_file()
        super().close()


def _deadline_connection(base: type[Any]) -> type[Any]:
    """A subclass of urllib3's connection class ``base`` that connects and talks by the deadline."""

    class DeadlineConnection(base):  # type: ignore[misc]
        def connect(self) -> None:
            deadline = current_deadline()
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the request's deadline has passed")
                timeout: Any = getattr(self, "timeout", None)  # a number, or urllib3's default sentinel
                self.timeout = left if not isinstance(timeout, (int, float)) else min(timeout, left)
            super().connect()
            self.sock = _DeadlineSocket(getattr(self, "sock"))  # noqa: B009 - its type is unknown to mypy

    DeadlineConnection.__name__ = DeadlineConnection.__qualname__ = f"Deadline{base.__name__}"
    return DeadlineConnection


@functools.cache
def _pool_classes() -> dict[str, type[Any]]:
    from aliyunsdkcore.vendored.requests.packages.urllib3 import connectionpool

    classes: dict[str, type[Any]] = {}
    for scheme, pool in (
        ("http", connectionpool.HTTPConnectionPool),
        ("https", connectionpool.HTTPSConnectionPool),
    ):
        connection = _deadline_connection(pool.ConnectionCls)
        classes[scheme] = type(f"Deadline{pool.__name__}", (pool,), {"ConnectionCls": connection})
    return classes


@functools.cache
def _adapter_class() -> type[Any]:
    from aliyunsdkcore.vendored.requests.adapters import HTTPAdapter

    class DeadlineAdapter(HTTPAdapter):  # type: ignore[misc]
        """``HTTPAdapter`` whose pools (direct and through an HTTP proxy) use deadline connections."""

        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = _pool_classes()

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **kwargs)
            if not proxy.lower().startswith("socks"):
                manager.pool_classes_by_scheme = _pool_classes()
            return manager

    return DeadlineAdapter


def install_deadline_transport(client: Any, pool_size: int = 10) -> None:
    """Mount the deadline transport on ``client.session`` (an ``AcsClient``) for http and https.

    Requests sent outside a :func:`~common_plugin.sources.deadline.deadline_scope` keep the SDK's
    per-operation timeouts only.
    """
    adapter_class = _adapter_class()
    for prefix in ("https://", "http://"):
        client.session.mount(prefix, adapter_class(pool_maxsize=pool_size))

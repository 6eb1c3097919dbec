"""A small HTTP/1.1 client for one endpoint, with a total deadline per request (private).

Why not an HTTP library: the DKMS source needs four things none of the SDK stacks gave it together:

* **Trust of its own.** Each transport gets the ``SSLContext`` its source built (exactly the
  configured CA bundle, or the system store); nothing is cached per process, so two sources with
  different trust to the same host never share a connection or a context.
* **A total deadline.** Connecting, the TLS handshake, sending, and reading the status line, headers
  and body all draw on one budget of ``timeout_seconds`` per request: every socket operation's
  timeout is the time left, so a server that trickles a byte every half second cannot hold a
  caller past it.
* **Bounded replies.** A body larger than ``max_response_bytes`` is refused unread.
* **Fork safety.** Kept-alive connections are per transport; :meth:`HttpTransport.after_fork` forgets
  the ones inherited from the parent (closing our copy of a descriptor sends nothing on the wire).

Requests are written byte for byte as given (header names and order are the caller's), and parsed
with :class:`http.client.HTTPResponse` over a deadline-aware reader.

Thread-safety: :meth:`HttpTransport.request` may run on many threads at once; each request uses its
own connection, and the lock that guards the idle list is never held during network I/O.
"""

from __future__ import annotations

import http.client
import io
import logging
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .deadline import seconds_left

__all__ = ["HttpReply", "HttpTransport", "TransportError", "client_ssl_context"]

_LOGGER = logging.getLogger(__name__)
_READ_CHUNK = 64 * 1024


class TransportError(OSError):
    """A request that got no usable HTTP answer.

    Attributes:
        kind: ``deadline``, ``timeout``, ``refused``, ``reset``, ``dns``, ``certificate``, ``tls``,
            ``too-large``, ``protocol`` or ``network``.
        address: ``host:port`` of the endpoint.
        detail: a short description, free of request and reply data.
    """

    def __init__(self, kind: str, address: str, detail: str) -> None:
        super().__init__(f"{kind} at {address}: {detail}")
        self.kind = kind
        self.address = address
        self.detail = detail


@dataclass(frozen=True)
class HttpReply:
    """One complete HTTP answer; ``headers`` names are lower case."""

    status: int
    headers: Mapping[str, str]
    body: bytes = field(repr=False)


def client_ssl_context(ca_file: str | None, *, verify: bool = True) -> ssl.SSLContext:
    """A client ``SSLContext`` trusting exactly ``ca_file`` (PEM), or the system store when ``None``.

    ``verify`` false is the user's explicit opt-out (``ignoreSslCerts``): no certificate or host-name
    check at all.

    Raises:
        OSError: ``ca_file`` cannot be read. ``ssl.SSLError``: it holds no certificate.
    """
    context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    if not verify:
        context.check_hostname = False  # tls-opt-out: ignoreSslCerts
        context.verify_mode = ssl.CERT_NONE  # tls-opt-out: ignoreSslCerts
    return context


class _DeadlineExceeded(TimeoutError):
    """Internal: the request's total budget is spent."""


class _DeadlineReader(io.RawIOBase):
    """A raw reader over a socket whose every ``recv`` may only use the time left before the deadline."""

    def __init__(self, sock: socket.socket, deadline: float, clock: Callable[[], float]) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline
        self._clock = clock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self._deadline - self._clock()
        if remaining <= 0:
            raise _DeadlineExceeded
        self._sock.settimeout(remaining)
        try:
            count = self._sock.recv_into(buffer)
        except TimeoutError:
            raise _DeadlineExceeded from None
        return count

    def close(self) -> None:
        # http.client closes its reader when a reply is complete; the socket stays ours to reuse.
        super().close()


class _SocketView:
    """What :class:`http.client.HTTPResponse` needs of a socket: ``makefile`` for reading."""

    def __init__(self, reader: _DeadlineReader) -> None:
        self._reader = reader

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(self._reader)


class HttpTransport:
    """HTTP/1.1 to one ``host:port``, plain or TLS, with kept-alive connections.

    Args:
        host: the name or address to connect to (and to check the certificate against).
        port: the TCP port.
        ssl_context: speak TLS with this context; ``None`` for plain HTTP.
        timeout_seconds: the total budget of one request, connection included.
        max_response_bytes: the largest body accepted.
        max_idle_connections: kept-alive connections kept for reuse.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None,
        timeout_seconds: float,
        max_response_bytes: int,
        max_idle_connections: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.port = port
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._context = ssl_context
        self._timeout = timeout_seconds
        self._max_body = max_response_bytes
        self._max_idle = max_idle_connections
        self._clock = clock
        self._lock = threading.Lock()
        self._idle: list[socket.socket] = []
        self._pid = os.getpid()
        self.connections_opened = 0

    def __repr__(self) -> str:
        scheme = "https" if self._context is not None else "http"
        return f"HttpTransport({scheme}://{self.address})"

    # ---- requests --------------------------------------------------------------------------------
    def request(self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes) -> HttpReply:
        """Send one request and read its complete answer within ``timeout_seconds``, or by the
        deadline of the fetch in progress (:mod:`~common_plugin.sources.deadline`) if that is nearer.

        A kept-alive connection is reused only while the server has not closed it; a request that
        fails on one is not sent again (a retry is the caller's decision).

        Raises:
            TransportError: no complete answer (see its ``kind``).
        """
        budget = self._timeout
        left = seconds_left()  # what remains of the whole fetch, when a caller bounds it
        if left is not None:
            budget = min(budget, max(left, 0.0))
        deadline = self._clock() + budget
        payload = _serialize(method, target, headers, body)
        sock = self._checkout(deadline)
        try:
            reply, keep = self._exchange(sock, payload, method, deadline)
        except BaseException as exc:
            _close(sock)
            if isinstance(exc, (OSError, http.client.HTTPException)):
                raise self._error(exc) from None
            raise
        if keep:
            self._checkin(sock)
        else:
            _close(sock)
        return reply

    def _exchange(
        self, sock: socket.socket, payload: bytes, method: str, deadline: float
    ) -> tuple[HttpReply, bool]:
        self._send(sock, payload, deadline)
        reader = _DeadlineReader(sock, deadline, self._clock)
        response = http.client.HTTPResponse(_SocketView(reader), method=method)  # type: ignore[arg-type]
        response.begin()
        length = response.length
        if length is not None and length > self._max_body:
            raise TransportError("too-large", self.address, f"a body of {length} bytes")
        body = bytearray()
        while True:
            chunk = response.read(_READ_CHUNK)
            if not chunk:
                break
            body += chunk
            if len(body) > self._max_body:
                raise TransportError("too-large", self.address, f"a body over {self._max_body} bytes")
        if response.length:  # read(amt) ends quietly when the peer closes before Content-Length
            raise http.client.IncompleteRead(b"", response.length)
        headers = {name.lower(): value for name, value in response.getheaders()}
        keep = not response.will_close
        response.close()
        return HttpReply(response.status, headers, bytes(body)), keep

    def _send(self, sock: socket.socket, payload: bytes, deadline: float) -> None:
        # socket.sendall on a TLS socket restarts its timeout for every chunk: loop ourselves.
        view = memoryview(payload)
        while view:
            sock.settimeout(self._remaining(deadline))
            try:
                sent = sock.send(view)
            except TimeoutError:
                raise _DeadlineExceeded from None
            view = view[sent:]

    def _remaining(self, deadline: float) -> float:
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise _DeadlineExceeded
        return remaining

    # ---- connections -----------------------------------------------------------------------------
    def _checkout(self, deadline: float) -> socket.socket:
        while True:
            with self._lock:
                self._forget_if_forked()
                sock = self._idle.pop() if self._idle else None
            if sock is None:
                try:
                    return self._connect(deadline)
                except OSError as exc:
                    raise self._error(exc) from None
            if _still_open(sock):
                return sock
            _close(sock)

    def _checkin(self, sock: socket.socket) -> None:
        with self._lock:
            if os.getpid() == self._pid and len(self._idle) < self._max_idle:
                self._idle.append(sock)
                return
        _close(sock)

    def _connect(self, deadline: float) -> socket.socket:
        try:
            # Name resolution is the one step the deadline cannot interrupt (the system resolver's
            # own timeouts apply); a literal address needs none.
            addresses = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise TransportError("dns", self.address, exc.strerror or "host name not found") from None
        last: OSError | None = None
        for family, kind, proto, _name, address in addresses:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self._remaining(deadline))
                sock.connect(address)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self._context is not None:
                    sock = self._context.wrap_socket(
                        sock, server_hostname=self.host, do_handshake_on_connect=False
                    )
                    sock.settimeout(self._remaining(deadline))
                    sock.do_handshake()
            except _DeadlineExceeded:
                _close(sock)
                raise
            except TimeoutError:
                _close(sock)
                raise _DeadlineExceeded from None
            except ssl.SSLError:
                _close(sock)
                raise
            except OSError as exc:
                _close(sock)
                last = exc
                continue
            with self._lock:
                self.connections_opened += 1
            return sock
        raise last if last is not None else TransportError("network", self.address, "no address")

    def _forget_if_forked(self) -> None:
        if os.getpid() != self._pid:  # the fork hook did not run (e.g. a bare os.fork): be safe anyway
            for sock in self._idle:
                _close(sock)
            self._idle = []
            self._pid = os.getpid()

    def after_fork(self) -> None:
        """In a forked child: forget the parent's connections (without a word on the wire) and lock."""
        self._lock = threading.Lock()
        for sock in self._idle:
            _close(sock)  # closes the child's descriptor only: the parent's connection is untouched
        self._idle = []
        self._pid = os.getpid()

    def close(self) -> None:
        """Close the kept-alive connections. Idempotent; requests may still follow."""
        with self._lock:
            idle, self._idle = self._idle, []
        for sock in idle:
            _close(sock)

    # ---- errors ----------------------------------------------------------------------------------
    def _error(self, exc: BaseException) -> TransportError:
        if isinstance(exc, TransportError):
            return exc
        if isinstance(exc, _DeadlineExceeded):
            return TransportError("deadline", self.address, f"no complete answer within {self._timeout:g} s")
        if isinstance(exc, ssl.SSLCertVerificationError):
            return TransportError("certificate", self.address, exc.verify_message or "not trusted")
        if isinstance(exc, ssl.SSLError):
            return TransportError("tls", self.address, exc.reason or type(exc).__name__)
        if isinstance(exc, ConnectionRefusedError):
            return TransportError("refused", self.address, "connection refused")
        if isinstance(exc, (ConnectionError, http.client.RemoteDisconnected, http.client.IncompleteRead)):
            return TransportError("reset", self.address, "connection dropped")
        if isinstance(exc, http.client.BadStatusLine):
            line = str(exc.args[0]) if exc.args else ""
            if not line.endswith("\n"):  # the stream ended inside the status line: dropped mid-answer
                return TransportError("reset", self.address, "connection dropped")
        if isinstance(exc, TimeoutError):
            return TransportError("timeout", self.address, "timed out")
        if isinstance(exc, http.client.HTTPException):
            return TransportError("protocol", self.address, f"not an HTTP answer ({type(exc).__name__})")
        return TransportError("network", self.address, type(exc).__name__)


def _serialize(method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in headers:
        if any(ch in value for ch in "\r\n\0") or any(ch in name for ch in "\r\n\0: "):
            raise ValueError(f"header {name!r} cannot be sent")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _still_open(sock: socket.socket) -> bool:
    """False when an idle kept-alive connection has been closed (or spoken to) by the server."""
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return not poller.poll(0)
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass

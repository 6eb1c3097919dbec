"""A loopback HTTP server that records each request's raw bytes and answers with canned bytes.

For the tests that must see the exact bytes a client writes (the DKMS golden fixture and the
differential tests of the reference environment) and for answers no well-behaved server gives
(a huge body, a connection closed after every answer). Imports only the standard library, so the
reference environment (``tests/dkms_reference``) uses it too.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from types import TracebackType

__all__ = ["CaptureServer", "http_response"]


def http_response(status: int, body: bytes, *, headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """The bytes of an HTTP/1.1 answer with ``Content-Length`` (plus ``headers``, in order)."""
    lines = [f"HTTP/1.1 {status} X", *(f"{name}: {value}" for name, value in headers)]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class CaptureServer:
    """Serve 127.0.0.1 on an ephemeral port; ``requests`` holds every raw request received.

    Args:
        respond: the raw answer to a raw request.
        close_after_each: close the connection after each answer (without saying so in a header).
    """

    def __init__(self, respond: Callable[[bytes], bytes], *, close_after_each: bool = False) -> None:
        self._respond = respond
        self._close_after_each = close_after_each
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.requests: list[bytes] = []
        self.connections = 0
        self._closed = 0
        self._lock = threading.Lock()
        self._closed_changed = threading.Condition(self._lock)
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> CaptureServer:
        self._accepting.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (close alone does not)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for conn in sockets:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in [self._accepting, *self._threads]:
            thread.join(timeout=10)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self.connections += 1
                self._sockets.append(conn)
                self._threads.append(thread)
            thread.start()

    def wait_closed(self, count: int) -> None:
        """Wait until this server has closed ``count`` connections."""
        with self._closed_changed:
            if not self._closed_changed.wait_for(lambda: self._closed >= count, timeout=30):
                raise TimeoutError(f"the server closed {self._closed} connections, not {count}")

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._exchange(conn)
        finally:
            conn.close()
            with self._closed_changed:
                self._closed += 1
                self._closed_changed.notify_all()

    def _exchange(self, conn: socket.socket) -> None:
        buffered = b""
        while True:
            request, buffered = _read_request(conn, buffered)
            if request is None:
                return
            with self._lock:
                self.requests.append(request)
            try:
                conn.sendall(self._respond(request))
            except OSError:
                return
            if self._close_after_each:
                return


def _read_request(conn: socket.socket, buffered: bytes) -> tuple[bytes | None, bytes]:
    while b"\r\n\r\n" not in buffered:
        try:
            chunk = conn.recv(65536)
        except OSError:
            return None, b""
        if not chunk:
            return None, b""
        buffered += chunk
    head, rest = buffered.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        try:
            chunk = conn.recv(65536)
        except OSError:
            return None, b""
        if not chunk:
            return None, b""
        rest += chunk
    return head + b"\r\n\r\n" + rest[:length], rest[length:]

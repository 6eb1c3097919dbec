"""The emulator's HTTP layer: one loopback listener per service, with fault injection and counters.

Each :class:`ServiceServer` owns a ``ThreadingHTTPServer`` bound to ``127.0.0.1`` on an ephemeral port,
optionally TLS, speaking HTTP/1.1 with keep-alive (every response carries ``Content-Length``). For
each request it consults ``state.faults[service.name]``, applies a planned :class:`~.state.Fault` or
calls ``service.handle``, and records ``state.record(service, action, access_key_id)`` either way.

Thread-safety: ``handle`` of a service runs on one thread per connection, concurrently. ``start`` and
``stop`` may be called from any thread; ``stop`` is idempotent, closes idle keep-alive connections so
their threads exit, and joins every thread it started. Request bodies, query strings and headers are
never logged (they carry signatures, tokens and secrets).
"""

from __future__ import annotations

import io
import logging
import selectors
import socket
import socketserver
import ssl
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, cast, runtime_checkable

from .state import CloudState, Fault
from .wire import HttpRequest, HttpResponse

__all__ = ["Service", "ServiceServer"]

_LOGGER = logging.getLogger(__name__)

_HANDSHAKE_TIMEOUT_SECONDS = 10.0
_IDLE_TIMEOUT_SECONDS = 60.0


@runtime_checkable
class Service(Protocol):
    """What the HTTP layer needs from an emulated service.

    Optionally a service also has ``action_of(request) -> str`` and ``access_key_id_of(request) -> str``
    so faults can match (and counters name) a request that is never handled. ``handle`` must be
    thread-safe and should turn bad requests into error responses rather than raise.
    """

    name: str

    def handle(self, request: HttpRequest) -> HttpResponse: ...

    def error_response(self, status: int, code: str, message: str) -> HttpResponse: ...

    def garbage_response(self) -> HttpResponse: ...


class _Server(ThreadingHTTPServer):
    # Daemon handler threads, which ThreadingMixIn does not track (it joins only non-daemon ones),
    # so we keep them in ``handler_threads`` and ServiceServer.stop() joins them itself.
    daemon_threads = True
    timeout = 0  # handle_request() after a select has said the socket is ready: never block
    request_queue_size = 128  # listen backlog: 32+ client threads reconnect at once after a revoke

    def __init__(self, owner: ServiceServer) -> None:
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        self.handler_threads: set[threading.Thread] = set()
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn), which can stall; skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), daemon=True
        )
        with self.connections_lock:
            self.handler_threads = {t for t in self.handler_threads if t.is_alive()}
            self.handler_threads.add(thread)
        thread.start()

    def finish_request(self, request: Any, client_address: Any) -> None:
        conn = cast(socket.socket, request)
        context = self.owner.ssl_context
        if context is not None:
            conn.settimeout(_HANDSHAKE_TIMEOUT_SECONDS)
            try:
                conn = context.wrap_socket(conn, server_side=True)
            except (OSError, ValueError) as exc:
                # e.g. a client that does not trust our CA aborts the handshake
                _LOGGER.debug("TLS handshake on %s failed: %s", self.owner.service.name, exc)
                return
        with self.connections_lock:
            self.connections.add(conn)
        try:
            if not self.owner.stopping:  # accepted just as stop() ran: do not start reading
                _Handler(conn, client_address, self)
        finally:
            with self.connections_lock:
                self.connections.discard(conn)
            if context is not None:
                _close_quietly(conn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Peers resetting connections is normal here (faults, client timeouts); never print to stderr.
        exc = sys.exc_info()[1]
        _LOGGER.debug("connection error on %s: %r", self.owner.service.name, exc)


def _close_quietly(conn: socket.socket) -> None:
    try:
        conn.close()
    except OSError:
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = _IDLE_TIMEOUT_SECONDS
    disable_nagle_algorithm = True  # headers and body go out in two writes; avoid the 40 ms ACK stall
    server_version = "LocalAliyun"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 - the http.server naming convention
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        # The default writes the request line (with its signed query) to stderr; keep quiet instead.
        return

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        server = cast(_Server, self.server)
        owner = server.owner
        service = owner.service
        request = HttpRequest(
            method=self.command,
            target=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self._read_body(),
        )
        action = _call_optional(service, "action_of", request)
        key_id = _call_optional(service, "access_key_id_of", request)
        fault = owner.state.faults[service.name].take(action or None)
        response: HttpResponse | None
        if fault is None:
            response = self._serve(service, request)
        else:
            _LOGGER.debug("injecting %s fault on %s %s", fault.kind, service.name, action)
            if fault.kind in ("reset", "truncate", "trickle"):
                # Counted before the client can see the connection drop and read the counters.
                owner.state.record(service.name, action, key_id)
            response = self._apply_fault(service, request, fault)
        if response is None:  # reset, truncated or trickled: counted above
            return
        owner.state.record(service.name, response.action or action, response.access_key_id or key_id)
        if response.error_code:
            owner.state.record_error(service.name, response.error_code)
        self._write(response)

    def _serve(self, service: Service, request: HttpRequest) -> HttpResponse:
        try:
            return service.handle(request)
        except Exception:
            _LOGGER.exception("%s failed to handle a %s request", service.name, request.method)
            return service.error_response(500, "InternalError", "The request processing has failed.")

    def _apply_fault(self, service: Service, request: HttpRequest, fault: Fault) -> HttpResponse | None:
        if fault.kind == "status":
            return service.error_response(fault.status, fault.code, _fault_message(fault.code))
        if fault.kind == "latency":
            # Cut short by stop(): a test can inject a latency far beyond any client timeout (so a
            # busy machine cannot make the answer arrive first) without its teardown waiting it out.
            cast(_Server, self.server).owner.wait_stopping(fault.seconds)
            return self._serve(service, request)
        if fault.kind == "garbage":
            return service.garbage_response()
        if fault.kind == "reset":
            self._reset()
            return None
        if fault.kind == "truncate":
            response = self._serve(service, request)
            body = response.body or b"{}"
            self._write(response, body_override=body[: len(body) // 2], full_length=len(body))
            self.close_connection = True
            self.wfile.flush()
            return None
        if fault.kind == "trickle":
            self._trickle(self._serve(service, request), fault)
            return None
        raise ValueError(f"unknown fault kind {fault.kind!r}")

    def _trickle(self, response: HttpResponse, fault: Fault) -> None:
        """Send ``response`` ``fault.chunk_bytes`` at a time, ``fault.seconds`` apart, then close."""
        owner = cast(_Server, self.server).owner
        self.close_connection = True
        rendered = io.BytesIO()
        wire, self.wfile = self.wfile, rendered  # render the reply exactly as _write sends it
        try:
            self._write(response)
        finally:
            self.wfile = wire
        data = rendered.getvalue()
        step = max(1, fault.chunk_bytes)
        for start in range(0, len(data), step):
            if start and owner.wait_stopping(fault.seconds):
                return  # the emulator is stopping: let stop() join this thread promptly
            chunk = data[start : start + step]
            try:
                wire.write(chunk)
                wire.flush()
            except OSError:
                return  # the client gave up (its deadline): nothing more to send
            owner.state.record_trickled(owner.service.name, len(chunk))

    def _reset(self) -> None:
        self.close_connection = True
        try:
            # linger 0: close() sends a TCP RST instead of a graceful FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            socket.socket.shutdown(self.connection, socket.SHUT_RDWR)
        except OSError:
            pass

    def _write(
        self, response: HttpResponse, *, body_override: bytes | None = None, full_length: int | None = None
    ) -> None:
        body = response.body if body_override is None else body_override
        self.send_response(response.status)
        sent = {name.lower() for name in response.headers}
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        if "content-type" not in sent and body:
            self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body) if full_length is None else full_length))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)


def _call_optional(service: Service, method: str, request: HttpRequest) -> str:
    func = getattr(service, method, None)
    if func is None:
        return ""
    try:
        return str(func(request) or "")
    except Exception:  # a malformed request: let handle() produce the proper error
        return ""


def _fault_message(code: str) -> str:
    if "Throttling" in code:
        return "QPS Limit Exceeded"
    return f"The request failed with {code} (injected by the local emulator)."


class ServiceServer:
    """One loopback listener serving one :class:`Service`.

    Args:
        service: the service to serve.
        state: the cloud state holding fault plans and counters.
        ssl_context: a server-side context to speak HTTPS, or ``None`` for plain HTTP.
    """

    def __init__(self, service: Service, state: CloudState, *, ssl_context: ssl.SSLContext | None = None):
        self.service = service
        self.state = state
        self.ssl_context = ssl_context
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = "running" if self._server is not None else "stopped"
        return f"ServiceServer({self.service.name!r}, {self.url if self._server else ''!r}, {state})"

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def wait_stopping(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for :meth:`stop`; ``True`` when stopping (a fault's sleep that a
        stop cuts short)."""
        return self._stopping.wait(seconds)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not running")
        return self._server.server_port

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context is not None else "http"

    @property
    def url(self) -> str:
        """``http(s)://127.0.0.1:PORT``."""
        return f"{self.scheme}://{self.endpoint}"

    def start(self) -> ServiceServer:
        """Bind and start serving on a daemon thread; returns ``self``."""
        with self._lock:
            if self._server is not None:
                return self
            self._stopping.clear()
            self._server = _Server(self)
            self._wake_r, self._wake_w = socket.socketpair()
            self._thread = threading.Thread(
                target=self._serve, name=f"local-aliyun-{self.service.name}", daemon=True
            )
            self._thread.start()
        return self

    def _serve(self) -> None:
        server, wake = self._server, self._wake_r
        assert server is not None and wake is not None  # noqa: S101 - set by start()
        with selectors.DefaultSelector() as selector:
            selector.register(server.socket, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is server.socket and not self._stopping.is_set():
                        server.handle_request()

    def request_stop(self) -> None:
        """Stop accepting connections without waiting (lets several servers stop in parallel)."""
        self._stopping.set()
        if self._wake_w is not None:
            try:
                self._wake_w.send(b"x")
            except OSError:
                pass

    def stop(self) -> None:
        """Stop accepting, close open connections, join all threads. Idempotent."""
        with self._lock:
            server, thread = self._server, self._thread
            if server is None:
                return
            self.request_stop()
            if thread is not None:
                thread.join()
            with server.connections_lock:
                open_connections = list(server.connections)
            for conn in open_connections:  # wakes handler threads blocked on an idle keep-alive read
                try:
                    socket.socket.shutdown(conn, socket.SHUT_RDWR)
                except OSError:
                    pass
            server.server_close()
            with server.connections_lock:
                handlers = list(server.handler_threads)
            for handler in handlers:  # e.g. one woken from a latency fault, finishing its answer
                handler.join()
            for sock in (self._wake_r, self._wake_w):
                if sock is not None:
                    sock.close()
            self._server = self._thread = self._wake_r = self._wake_w = None

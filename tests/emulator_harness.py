"""A minimal plain-HTTP loopback server for one emulator service, for the service tests.

It only converts between ``http.server`` and :class:`HttpRequest`/:class:`HttpResponse`; the real
HTTP layer (TLS, faults, counters) lives in the emulator. Counters are recorded here the same way so
tests can count requests.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

from common_plugin.testing.state import CloudState
from common_plugin.testing.wire import HttpRequest, HttpResponse

__all__ = ["Service", "serve"]


class Service(Protocol):
    name: str

    def handle(self, request: HttpRequest) -> HttpResponse: ...

    def error_response(self, status: int, code: str, message: str) -> HttpResponse: ...

    def action_of(self, request: HttpRequest) -> str: ...


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients dropping keep-alive connections at teardown is normal


@contextmanager
def serve(service: Service, state: CloudState) -> Iterator[str]:
    """Serve ``service`` on 127.0.0.1; yields ``"127.0.0.1:<port>"``.

    Faults queued in ``state.faults[service.name]`` with kind ``status`` are honoured.
    """

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as two writes

        def _serve(self) -> None:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                body = self._read_chunked()  # oss2 streams empty or unsized bodies chunked
            else:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
            request = HttpRequest(
                self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
            )
            fault = state.faults[service.name].take(service.action_of(request))
            if fault is not None and fault.kind == "status":
                response = service.error_response(fault.status, fault.code, "injected fault")
                response.action = service.action_of(request)
            else:
                response = service.handle(request)
            state.record(service.name, response.action, response.access_key_id)
            self.send_response(response.status)
            # Like the emulator's HTTP layer: Content-Length is always the body's (also for HEAD).
            for name, value in response.headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        def _read_chunked(self) -> bytes:
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = _QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

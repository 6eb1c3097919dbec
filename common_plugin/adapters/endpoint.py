"""A local credentials endpoint in the ``ALIBABA_CLOUD_CREDENTIALS_URI`` format (the ``serve`` command).

Alibaba Cloud SDKs in every language read credentials from the URI in ``ALIBABA_CLOUD_CREDENTIALS_URI``
(Python: ``alibabacloud_credentials.provider.URLCredentialsProvider``, checked against
alibabacloud-credentials 1.0.12). The SDK sends a plain ``GET`` and expects HTTP 200 with::

    {"Code": "Success", "AccessKeyId": "...", "AccessKeySecret": "...",
     "SecurityToken": "...", "Expiration": "2026-01-31T08:00:00Z"}

All five fields must be present (``SecurityToken`` may be empty for a RAM user key), ``Expiration`` in
exactly that UTC format. The SDK caches the answer until ``Expiration`` minus a margin (15 minutes in
Python, less in other languages), so we advertise ``now + 15 min + max_age_seconds`` (capped by an STS
token's real expiry): SDKs come back about every ``max_age_seconds`` and pick up a rotated key.

Authentication. The SDK's URI provider cannot add a header: it sends the URI's path and query only.
So the token is accepted in two forms, both compared with :func:`hmac.compare_digest`:

* in the path, ``http://127.0.0.1:PORT/<token>/credentials`` (what goes in the environment variable);
* as a header, ``Authorization: Bearer <token>`` on ``/credentials`` (for tools that can send one).

The path form puts the token wherever the URI goes (environment, process listings of children); it
is a capability for *this* endpoint only, which answers only on loopback or a 0600 unix socket. SSRF
and DNS-rebinding defences: requests whose ``Host`` is not ``127.0.0.1``, ``localhost`` or ``[::1]``
(any port), that carry ``X-Forwarded-For`` or ``Forwarded`` (they came through a proxy), or that are
not ``GET`` are refused before the token is even looked at. Responses carry ``Cache-Control: no-store``.
Neither the token nor any secret is ever logged; request lines are not logged at all.

Options are checked by :func:`check_server_options` (a :class:`~common_plugin.exceptions.ConfigError`,
which is a ``ValueError``, naming the option and the fix): a token of at least 16 characters, a
loopback host, and ``max_age_seconds`` finite and from 1 to :data:`MAX_AGE_LIMIT_SECONDS` (an hour:
the longest a rotated or revoked key may go on being served to URI clients).

Thread-safety: :class:`CredentialsServer` serves each connection on its own thread; every request is
one lock-free cache read of the provider (a miss fetches, single-flight). ``start``/``stop`` are for
one owning thread; ``stop`` is idempotent.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import os
import secrets
import socket
import socketserver
import stat
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from ..exceptions import ConfigError, ManagedCredentialsError
from ..provider import CredentialsProvider

__all__ = [
    "CredentialsServer",
    "MAX_AGE_LIMIT_SECONDS",
    "MIN_TOKEN_LENGTH",
    "TOKEN_ENV",
    "check_server_options",
    "credentials_document",
]

_LOGGER = logging.getLogger(__name__)

TOKEN_ENV = "MANAGED_CREDENTIALS_SERVE_TOKEN"  # noqa: S105 - a variable name, not a token
"""Environment variable the ``serve`` command reads the token from, when set."""

MIN_TOKEN_LENGTH = 16
"""The shortest token accepted (``secrets.token_urlsafe(32)``, the default, gives 43 characters)."""

MAX_AGE_LIMIT_SECONDS = 3600.0
"""The largest ``max_age_seconds``: URI clients may keep a rotated or revoked key this long."""

SDK_REFRESH_MARGIN_SECONDS = 15 * 60  # the Python SDK refreshes 15 minutes before Expiration
_LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
_EXPIRATION_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def credentials_document(
    access_key_id: str,
    access_key_secret: str,
    security_token: str | None,
    expires_at: float | None,
    *,
    now: float,
    max_age_seconds: float,
) -> dict[str, str]:
    """The JSON object an ``ALIBABA_CLOUD_CREDENTIALS_URI`` endpoint answers (see the module docstring)."""
    expiration = now + SDK_REFRESH_MARGIN_SECONDS + max_age_seconds
    if expires_at is not None:
        expiration = min(expiration, expires_at)
    return {
        "Code": "Success",
        "AccessKeyId": access_key_id,
        "AccessKeySecret": access_key_secret,
        "SecurityToken": security_token or "",
        "Expiration": datetime.fromtimestamp(expiration, tz=timezone.utc).strftime(_EXPIRATION_FORMAT),
    }


def check_server_options(
    *,
    token: str | None = None,
    token_source: str = "the token",  # noqa: S107 - where it came from, not a token
    host: str = "127.0.0.1",
    unix_socket: str | os.PathLike[str] | None = None,
    max_age_seconds: float = 60.0,
) -> None:
    """Check the options of :class:`CredentialsServer` (and the ``serve`` command) before any is used.

    Args:
        token: the token, or ``None`` for a generated one; never put in a message.
        token_source: where the token came from, for the message (a file, a variable).
        host, unix_socket, max_age_seconds: as for :class:`CredentialsServer`.

    Raises:
        ConfigError: the option at fault, named with the allowed values.
    """
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"{token_source}: the serve token must be at least {MIN_TOKEN_LENGTH} characters long; "
            "use a random one (e.g. `openssl rand -hex 32`), or let serve generate it"
        )
    if unix_socket is None and host not in _LOOPBACK_HOSTS:
        raise ConfigError(
            f"host {host!r}: the credentials endpoint listens on loopback only (127.0.0.1, ::1 or "
            "localhost); for other local clients use a unix socket (--unix-socket PATH)"
        )
    number = max_age_seconds
    if (
        not isinstance(number, (int, float))
        or isinstance(number, bool)
        or not math.isfinite(number)
        or not 1 <= number <= MAX_AGE_LIMIT_SECONDS
    ):
        raise ConfigError(
            "max_age_seconds (serve --max-age-seconds): must be a finite number of seconds from 1 to "
            f"{MAX_AGE_LIMIT_SECONDS:g}"
        )


def _host_name(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "managed-credentials"
    sys_version = ""
    timeout = 30.0

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        return  # the request line holds the token: never log it

    def do_GET(self) -> None:  # noqa: N802 - the http.server naming convention
        owner: CredentialsServer = self.server.owner  # type: ignore[attr-defined]
        status, body = owner.answer(self.path, dict(self.headers.items()))
        self._send(status, body)

    def _refuse_method(self) -> None:
        self._send(405, {"Code": "MethodNotAllowed", "Message": "only GET is served"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _refuse_method

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="managed-credentials"')
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class _TcpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: CredentialsServer, address: tuple[str, int]) -> None:
        self.owner = owner
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # skip getfqdn(), which can stall
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, owner: CredentialsServer, path: str) -> None:
        self.owner = owner
        super().__init__(path, _Handler)

    def server_bind(self) -> None:
        old = os.umask(0o177)  # the socket file is created 0600: only this user may connect
        try:
            super().server_bind()
        finally:
            os.umask(old)

    def get_request(self) -> tuple[Any, Any]:
        request, _ = super().get_request()
        return request, ("unix", 0)  # BaseHTTPRequestHandler expects a (host, port) address


class CredentialsServer:
    """Serves managed credentials to local processes in the ``ALIBABA_CLOUD_CREDENTIALS_URI`` format.

    Args:
        provider: where credentials come from (not owned: :meth:`stop` does not close it).
        secret_names: the secrets that may be served; the first is served at ``/credentials``, each
            at ``/credentials/<name>``.
        token: the shared secret callers must present (at least 16 characters); ``None`` generates a
            random 256-bit one (:attr:`token`).
        host: a loopback address to listen on (``127.0.0.1`` or ``::1``); never a public one.
        port: the TCP port; 0 picks a free one (:attr:`port`).
        unix_socket: listen on this unix socket path (created 0600) instead of TCP.
        max_age_seconds: how often, roughly, SDKs should come back for a rotated key (1 to 3600).

    Raises:
        ConfigError: an option is out of bounds (see :func:`check_server_options`); also a
            ``ValueError``.
    """

    def __init__(
        self,
        provider: CredentialsProvider,
        secret_names: Sequence[str],
        *,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        unix_socket: str | os.PathLike[str] | None = None,
        max_age_seconds: float = 60.0,
    ) -> None:
        names = list(dict.fromkeys(secret_names))
        if not names or not all(isinstance(n, str) and n for n in names):
            raise ValueError("CredentialsServer needs at least one secret name")
        check_server_options(token=token, host=host, unix_socket=unix_socket, max_age_seconds=max_age_seconds)
        self._provider = provider
        self._names = names
        self._token = token if token is not None else secrets.token_urlsafe(32)
        self._host = "127.0.0.1" if host == "localhost" else host
        self._port = port
        self._unix_socket = os.fspath(unix_socket) if unix_socket is not None else None
        self._max_age_seconds = max_age_seconds
        self._server: _TcpServer | _UnixServer | None = None
        self._thread: threading.Thread | None = None

    # -- addresses -----------------------------------------------------------------------------

    @property
    def provider(self) -> CredentialsProvider:
        """The provider credentials are read from."""
        return self._provider

    @property
    def token(self) -> str:
        """The token callers must present. Handle like a secret."""
        return self._token

    @property
    def port(self) -> int:
        if not isinstance(self._server, _TcpServer):
            raise RuntimeError("the server is not listening on TCP")
        return self._server.server_port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no token)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    def credentials_uri(self, secret_name: str | None = None) -> str:
        """The value for ``ALIBABA_CLOUD_CREDENTIALS_URI``, token included. Handle like a secret."""
        suffix = f"/{secret_name}" if secret_name is not None else ""
        return f"{self.base_url}/{self._token}/credentials{suffix}"

    # -- the one request handler ---------------------------------------------------------------

    def answer(self, target: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The status and JSON body for a ``GET target`` with ``headers``. Thread-safe."""
        lowered = {k.lower(): v for k, v in headers.items()}
        if _host_name(lowered.get("host", "")) not in _LOOPBACK_NAMES:
            return 403, {"Code": "Forbidden", "Message": "the Host header must name the loopback address"}
        if "x-forwarded-for" in lowered or "forwarded" in lowered:
            return 403, {"Code": "Forbidden", "Message": "proxied requests are refused"}
        path = target.split("?", 1)[0]
        parts = [p for p in path.split("/") if p]
        presented = ""
        if len(parts) >= 2 and parts[1] in ("credentials", "status"):
            presented, parts = parts[0], parts[1:]
        else:
            scheme, _, value = lowered.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer":
                presented = value.strip()
        if not hmac.compare_digest(presented.encode(), self._token.encode()):
            return 401, {"Code": "Unauthorized", "Message": "a valid token is required"}
        if parts == ["status"]:  # the operator's view: masked keys, refresh times, failures, counters
            return 200, self._provider.status().as_dict()
        if not parts or parts[0] != "credentials" or len(parts) > 2:
            return 404, {
                "Code": "NotFound",
                "Message": "GET /credentials, /credentials/<secret name> or /status",
            }
        name = parts[1] if len(parts) == 2 else self._names[0]
        if name not in self._names:
            return 404, {"Code": "NotFound", "Message": "this secret is not served here"}
        try:
            cred = self._provider.get(name)
        except ManagedCredentialsError as exc:
            _LOGGER.warning("serving secret %s failed: %s", name, type(exc).__name__)
            return 503, {"Code": "CredentialsUnavailable", "Message": f"secret {name!r} could not be fetched"}
        return 200, credentials_document(
            cred.access_key_id,
            cred.access_key_secret,
            cred.security_token,
            cred.expires_at,
            now=time.time(),
            max_age_seconds=self._max_age_seconds,
        )

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> CredentialsServer:
        """Bind and serve on a daemon thread; returns ``self``."""
        if self._server is not None:
            return self
        if self._unix_socket is not None:
            path = Path(self._unix_socket)
            if path.exists() and stat.S_ISSOCK(path.stat().st_mode):
                path.unlink()  # a stale socket of an earlier run
            self._server = _UnixServer(self, self._unix_socket)
        else:
            self._server = _TcpServer(self, (self._host, self._port))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="managed-credentials-serve"
        )
        self._thread.daemon = True
        self._thread.start()
        where = self._unix_socket if self._unix_socket is not None else self.base_url
        _LOGGER.info("serving managed credentials for %d secret(s) on %s", len(self._names), where)
        return self

    def stop(self) -> None:
        """Stop serving and release the socket. Idempotent."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()
        if self._unix_socket is not None:
            Path(self._unix_socket).unlink(missing_ok=True)
        self._server = self._thread = None

    def __enter__(self) -> CredentialsServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self._unix_socket or f"{self._host}:{self._port}"
        return f"CredentialsServer({where!r}, secrets={self._names!r}, running={self._server is not None})"

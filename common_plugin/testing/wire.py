"""The request/response values passed between the emulator's HTTP layer and its services.

A service is anything with ``handle(request: HttpRequest) -> HttpResponse``; the HTTP layer owns
sockets, TLS, fault injection and counters, so services are plain functions of the request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

__all__ = ["HttpRequest", "HttpResponse"]


@dataclass
class HttpRequest:
    """One request as received. Header names are lower-cased."""

    method: str
    target: str  # the raw request target: path plus query, still percent-encoded
    headers: dict[str, str]
    body: bytes = b""

    @property
    def path(self) -> str:
        """The raw (still percent-encoded) path."""
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        """Query parameters, decoded, blank values kept (``SignatureType=`` matters)."""
        return dict(parse_qsl(urlsplit(self.target).query, keep_blank_values=True))

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass
class HttpResponse:
    """One response to send. ``action``, ``access_key_id`` and ``error_code`` feed the emulator's counters."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    action: str = ""
    access_key_id: str = ""
    error_code: str = ""  # the service error code of an error reply, e.g. SignatureDoesNotMatch

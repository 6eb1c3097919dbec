"""The emulated MaxCompute (ODPS) REST API: projects and tables, signed by the valid access keys.

The endpoint is ``http://127.0.0.1:PORT/api`` (what ``odps.ODPS(endpoint=...)`` takes). Supported,
as PyODPS calls them (docs/protocols.md section 5):

======================  =====================================  =====================================
call                    request                                reply
======================  =====================================  =====================================
``ODPS(...)``           ``GET /api/logview/host``              the Logview host, as text
tenant options          ``GET /api/tenants``                   ``{"Tenant": {...}}``
``get_project().reload``  ``GET /api/projects/<p>``           ``<Project>`` XML, owner headers
``list_tables``         ``GET /api/projects/<p>/tables``       ``<Tables>`` XML (one page)
``exist_table``         ``GET /api/projects/<p>/tables/<t>``   ``<Table>`` XML, or 404 NoSuchObject
======================  =====================================  =====================================

Every request is authenticated with PyODPS's signature (``Authorization: ODPS <id>:<sig>``, or the
v4 form ``ODPS <id>/<yyyymmdd>/<region>/odps/aliyun_v4_request:<sig>``), rebuilt here from the spec
against the keys valid *now*. Refusals are XML ``<Error>`` bodies: an unknown, revoked or disabled key
or a bad STS token gets 401 ``InvalidParameter`` "ODPS-0410051:Invalid credentials - ...", a wrong
secret 401 ``SignatureNotMatch`` "ODPS-0410042:Invalid signature value - ...", an expired STS token
400 ``AuthenticationRequestExpired`` "ODPS-0410031:Authentication request expired - ...".

Thread-safe: ``handle`` runs on many threads at once; the catalogue takes one lock per operation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from urllib.parse import parse_qsl, unquote, urlsplit
from xml.etree import ElementTree

from .state import CloudState
from .wire import HttpRequest, HttpResponse

__all__ = ["API_PREFIX", "MaxComputeService", "odps_string_to_sign"]

_LOGGER = logging.getLogger(__name__)

API_PREFIX = "/api"
_V2 = re.compile(r"^ODPS (?P<ak>[^/:\s]+):(?P<sig>\S+)$")
_V4 = re.compile(
    r"^ODPS (?P<ak>[^/:\s]+)/(?P<date>\d{8})/(?P<region>[^/:\s]+)/odps/(?P<terminator>[^/:\s]+):(?P<sig>\S+)$"
)
_V4_TERMINATOR = "aliyun_v4_request"


@dataclass(frozen=True)
class _Authorization:
    access_key_id: str
    signature: str
    date: str = ""
    region: str = ""
    terminator: str = ""


def _parse_authorization(value: str) -> _Authorization | None:
    match = _V4.match(value)
    if match is not None:
        return _Authorization(
            match["ak"],
            match["sig"],
            date=match["date"],
            region=match["region"],
            terminator=match["terminator"],
        )
    match = _V2.match(value)
    return _Authorization(match["ak"], match["sig"]) if match is not None else None


def odps_string_to_sign(request: HttpRequest) -> str:
    """PyODPS's canonical string: VERB, then the values of ``content-md5``, ``content-type`` and
    ``date`` and every ``x-odps-*`` header (and ``x-odps-*`` query parameter) as ``name:value``, all
    sorted by lower-case name, then the path below ``/api`` (percent-decoded) with the query parameters
    sorted by name (``k=v``, or ``k`` alone when empty). Lines joined by ``\\n``."""
    target = unquote(request.target)  # decoded before it is split, as the client does
    parts = urlsplit(target)
    path = parts.path[len(API_PREFIX) :] if parts.path.startswith(API_PREFIX) else parts.path
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    signed: dict[str, str] = {"content-md5": "", "content-type": "", "date": request.header("date")}
    for name, value in request.headers.items():
        if name in ("content-md5", "content-type") or name.startswith("x-odps-"):
            signed[name] = value
    for name, value in params.items():
        if name.startswith("x-odps-"):
            signed[name] = value
    lines = [request.method]
    for name in sorted(signed):
        lines.append(f"{name}:{signed[name]}" if name.startswith("x-odps-") else signed[name])
    resource = path
    if parts.query:
        resource += "?" + "&".join(f"{k}={v}" if v != "" else k for k, v in sorted(params.items()))
    lines.append(resource)
    return "\n".join(lines)


def _signature(secret: str, string_to_sign: str, auth: _Authorization) -> str:
    key = secret.encode("utf-8")
    if auth.date:  # v4: the HMAC-SHA1 key is derived through date, region and product
        derived = ("aliyun_v4" + secret).encode("utf-8")
        for part in (auth.date, auth.region, "odps", auth.terminator):
            derived = hmac.new(derived, part.encode("utf-8"), hashlib.sha256).digest()
        key = derived
    return base64.b64encode(hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha1).digest()).decode()


class _OdpsError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class MaxComputeService:
    """The emulated MaxCompute endpoint.

    Args:
        state: the cloud whose valid access keys may sign requests.
        region: the region a v4 signature's scope must name (``LocalAliyun`` passes its ``region_id``).
    """

    name = "maxcompute"

    def __init__(self, state: CloudState, *, region: str = "cn-hangzhou") -> None:
        self._state = state
        self.region = region
        self._lock = threading.Lock()
        self._projects: dict[str, dict[str, list[tuple[str, str]]]] = {}

    # ---- fixtures ----------------------------------------------------------------------------
    def create_table(self, project: str, table: str, columns: list[tuple[str, str]] | None = None) -> None:
        """Create a project (if new) and a table in it with ``(name, type)`` columns (idempotent)."""
        with self._lock:
            self._projects.setdefault(project, {})[table] = list(columns or [("id", "bigint")])

    def create_project(self, project: str) -> None:
        with self._lock:
            self._projects.setdefault(project, {})

    # ---- service interface -------------------------------------------------------------------
    def action_of(self, request: HttpRequest) -> str:
        parts = self._parts(request)
        if parts == ["logview", "host"]:
            return "GetLogviewHost"
        if parts == ["tenants"]:
            return "GetTenant"
        if len(parts) == 2 and parts[0] == "projects":
            return "GetProject"
        if len(parts) == 3 and parts[0] == "projects" and parts[2] == "tables":
            return "ListTables"
        if len(parts) == 4 and parts[0] == "projects" and parts[2] == "tables":
            return "GetTable"
        return "Unknown"

    def access_key_id_of(self, request: HttpRequest) -> str:
        auth = _parse_authorization(request.header("authorization"))
        return auth.access_key_id if auth else ""

    def error_response(self, status: int, code: str, message: str) -> HttpResponse:
        """The REST API's XML ``<Error>`` reply."""
        request_id = uuid.uuid4().hex.upper()
        root = ElementTree.Element("Error")
        for tag, text in (
            ("Code", code),
            ("Message", message),
            ("RequestId", request_id),
            ("HostId", "odps"),
        ):
            ElementTree.SubElement(root, tag).text = text
        body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="utf-8")
        headers = {"Content-Type": "application/xml", "x-odps-request-id": request_id}
        return HttpResponse(status, body, headers, error_code=code)

    def garbage_response(self) -> HttpResponse:
        return HttpResponse(200, b"<Tables><Table>", {"Content-Type": "application/xml"})

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Authenticate and serve one request; never raises for a bad request."""
        action = self.action_of(request)
        auth = _parse_authorization(request.header("authorization"))
        try:
            if auth is None:
                raise _OdpsError(401, "Unauthorized", "ODPS-0410001:Missing authentication parameters")
            self._authenticate(request, auth)
            response = self._dispatch(action)(request, self._parts(request))
            response.headers.setdefault("x-odps-request-id", uuid.uuid4().hex.upper())
        except _OdpsError as exc:
            response = self.error_response(exc.status, exc.code, exc.message)
        response.action = action
        response.access_key_id = auth.access_key_id if auth else ""
        return response

    # ---- authentication ----------------------------------------------------------------------
    def _authenticate(self, request: HttpRequest, auth: _Authorization) -> None:
        stored = self._state.lookup_key(auth.access_key_id)
        if stored is None:
            raise _OdpsError(
                401, "InvalidParameter", "ODPS-0410051:Invalid credentials - accessKeyId not found"
            )
        if stored.status != "Active":
            raise _OdpsError(
                401, "InvalidParameter", "ODPS-0410051:Invalid credentials - accessKeyId is disabled"
            )
        token = request.header("authorization-sts-token")
        if stored.security_token is not None or token:
            if stored.security_token is None or not hmac.compare_digest(token, stored.security_token):
                raise _OdpsError(
                    401, "InvalidParameter", "ODPS-0410051:Invalid credentials - invalid security token"
                )
            if stored.token_expires_at is not None and self._state.clock.time() >= stored.token_expires_at:
                raise _OdpsError(
                    400,
                    "AuthenticationRequestExpired",
                    "ODPS-0410031:Authentication request expired - sts token",
                )
        if auth.date and (auth.region != self.region or auth.terminator != _V4_TERMINATOR):
            raise _OdpsError(
                401, "SignatureNotMatch", "ODPS-0410042:Invalid signature value - scope mismatch"
            )
        expected = _signature(stored.access_key_secret, odps_string_to_sign(request), auth)
        if not hmac.compare_digest(expected.encode(), auth.signature.encode()):
            _LOGGER.debug("MaxCompute signature mismatch for a request")
            raise _OdpsError(
                401,
                "SignatureNotMatch",
                "ODPS-0410042:Invalid signature value - User signature does not match",
            )

    # ---- operations --------------------------------------------------------------------------
    @staticmethod
    def _parts(request: HttpRequest) -> list[str]:
        path = unquote(request.path)
        if path.startswith(API_PREFIX):
            path = path[len(API_PREFIX) :]
        return [part for part in path.split("/") if part]

    def _dispatch(self, action: str) -> Callable[[HttpRequest, list[str]], HttpResponse]:
        handlers: dict[str, Callable[[HttpRequest, list[str]], HttpResponse]] = {
            "GetLogviewHost": self._logview_host,
            "GetTenant": self._tenant,
            "GetProject": self._project,
            "ListTables": self._list_tables,
            "GetTable": self._table,
        }
        return handlers.get(action, self._unsupported)

    def _unsupported(self, request: HttpRequest, parts: list[str]) -> HttpResponse:
        raise _OdpsError(
            405, "MethodNotAllowed", "ODPS-0420131:This operation is not supported by the emulator"
        )

    def _tables(self, project: str) -> dict[str, list[tuple[str, str]]]:
        with self._lock:
            tables = self._projects.get(project)
            if tables is None:
                raise _OdpsError(404, "NoSuchObject", f"ODPS-0420111:Project not found - '{project}'")
            return dict(tables)

    def _logview_host(self, request: HttpRequest, parts: list[str]) -> HttpResponse:
        return HttpResponse(200, b"http://logview.local", {"Content-Type": "text/plain"})

    def _tenant(self, request: HttpRequest, parts: list[str]) -> HttpResponse:
        tenant = {
            "Tenant": {
                "Name": "emulated",
                "TenantId": "1",
                "OwnerId": self._state.account_id,
                "Parameters": {},
            }
        }
        return HttpResponse(200, json.dumps(tenant).encode(), {"Content-Type": "application/json"})

    def _project(self, request: HttpRequest, parts: list[str]) -> HttpResponse:
        self._tables(parts[1])
        root = ElementTree.Element("Project")
        for tag, text in (
            ("Name", parts[1]),
            ("Owner", f"ALIYUN${self._state.account_id}"),
            ("State", "AVAILABLE"),
        ):
            ElementTree.SubElement(root, tag).text = text
        date = formatdate(self._state.clock.time(), usegmt=True)
        headers = {
            "Content-Type": "application/xml",
            "x-odps-owner": f"ALIYUN${self._state.account_id}",
            "x-odps-creation-time": date,
            "Last-Modified": date,
        }
        return HttpResponse(200, ElementTree.tostring(root, encoding="utf-8"), headers)

    def _list_tables(self, request: HttpRequest, parts: list[str]) -> HttpResponse:
        root = ElementTree.Element("Tables")
        for name in sorted(self._tables(parts[1])):
            table = ElementTree.SubElement(root, "Table")
            ElementTree.SubElement(table, "Name").text = name
        ElementTree.SubElement(root, "Marker").text = ""
        ElementTree.SubElement(root, "MaxItems").text = "1000"
        return HttpResponse(
            200, ElementTree.tostring(root, encoding="utf-8"), {"Content-Type": "application/xml"}
        )

    def _table(self, request: HttpRequest, parts: list[str]) -> HttpResponse:
        columns = self._tables(parts[1]).get(parts[3])
        if columns is None:
            raise _OdpsError(404, "NoSuchObject", f"ODPS-0130131:Table not found - '{parts[1]}.{parts[3]}'")
        schema = {
            "tableName": parts[3],
            "columns": [{"name": name, "type": type_, "comment": ""} for name, type_ in columns],
            "partitionKeys": [],
        }
        root = ElementTree.Element("Table")
        ElementTree.SubElement(root, "Name").text = parts[3]
        ElementTree.SubElement(root, "TableId").text = hashlib.md5(
            parts[3].encode(), usedforsecurity=False
        ).hexdigest()
        ElementTree.SubElement(root, "Schema", {"format": "json"}).text = json.dumps(schema)
        return HttpResponse(
            200, ElementTree.tostring(root, encoding="utf-8"), {"Content-Type": "application/xml"}
        )

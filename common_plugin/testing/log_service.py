"""The emulated Log Service (SLS): PutLogs, GetLogs and ListLogStores, signed by the valid access keys.

Requests reach ``http://127.0.0.1:PORT/...`` with the project in the ``Host`` header
(``<project>.127.0.0.1``), as ``aliyun-log-python-sdk`` sends them to an IP endpoint. Supported:

=====================  ====================================================  ==================
API                    request                                               reply
=====================  ====================================================  ==================
PutLogs                ``POST /logstores/<ls>/shards/lb`` (or ``/route``)     200, empty body
GetLogs (v2)           ``POST /logstores/<ls>/logs`` (JSON parameters)        ``{"meta","data"}``
GetLogs (v1)           ``GET /logstores/<ls>?type=log&from=&to=...``          JSON list
ListLogStores          ``GET /logstores``                                     ``{"logstores"}``
=====================  ====================================================  ==================

PutLogs bodies are ``LogGroup`` protobufs, raw or LZ4 blocks (``x-log-compresstype: lz4``, with
``x-log-bodyrawsize``), decoded by :mod:`.wire_codecs`. Every request is authenticated with the v1
or v4 signature (:mod:`.log_signature`) against the keys valid *now*; refusals use the service's
codes (docs/protocols.md section 4): 401 ``Unauthorized`` ("AccessKeyId not found: <id>", "AccessKeyId
is disabled: <id>", "The security token you provided has expired." / "... is invalid.") and 401
``SignatureNotMatch``. GetLogs matches ``*`` (everything) or space-separated ``key: value`` terms.

Thread-safe: ``handle`` runs on many threads at once; the store takes one lock per operation.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

from .log_signature import (
    LogAuthorization,
    parse_log_authorization,
    v1_signature,
    v1_string_to_sign,
    v4_scope_error,
    v4_signature,
)
from .state import CloudState
from .wire import HttpRequest, HttpResponse
from .wire_codecs import DecodeError, decode_log_group, lz4_block_decompress

__all__ = ["LogService", "StoredLog"]

_LOGGER = logging.getLogger(__name__)

_HOST = "127.0.0.1"


@dataclass(frozen=True)
class StoredLog:
    """One log as stored: time, contents, its group's topic/source/tags, and the key that wrote it."""

    time: int
    contents: tuple[tuple[str, str], ...]
    topic: str = ""
    source: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    access_key_id: str = ""

    def as_dict(self) -> dict[str, str]:
        """The GetLogs shape: ``__time__``, ``__topic__``, ``__source__``, ``__tag__:k`` and contents."""
        row = {"__time__": str(self.time), "__topic__": self.topic, "__source__": self.source}
        row.update({f"__tag__:{k}": v for k, v in self.tags})
        row.update(dict(self.contents))
        return row


class _LogError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class _Logstore:
    logs: list[StoredLog] = field(default_factory=list)


class LogService:
    """The emulated Log Service endpoint.

    Args:
        state: the cloud whose valid access keys may sign requests.
        region: the region a v4 signature's scope must name (``LocalAliyun`` passes its ``region_id``).
    """

    name = "log"

    def __init__(self, state: CloudState, *, region: str = "cn-hangzhou") -> None:
        self._state = state
        self.region = region
        self._lock = threading.Condition()
        self._projects: dict[str, dict[str, _Logstore]] = {}

    # ---- fixtures ----------------------------------------------------------------------------
    def create_logstore(self, project: str, logstore: str) -> None:
        """Create a project (if new) and a logstore in it (idempotent)."""
        with self._lock:
            self._projects.setdefault(project, {}).setdefault(logstore, _Logstore())

    def logs(self, project: str, logstore: str) -> list[StoredLog]:
        """Every log stored in ``project``/``logstore``, in arrival order (for test assertions)."""
        with self._lock:
            return list(self._store(project, logstore).logs)

    def wait_for_logs(
        self, project: str, logstore: str, count: int, timeout: float = 30.0
    ) -> list[StoredLog]:
        """Wait until ``logstore`` holds ``count`` logs or ``timeout`` seconds pass; return what it holds."""
        with self._lock:
            self._lock.wait_for(lambda: len(self._store(project, logstore).logs) >= count, timeout)
            return list(self._store(project, logstore).logs)

    # ---- service interface -------------------------------------------------------------------
    def action_of(self, request: HttpRequest) -> str:
        """The API name of a request, without handling it."""
        parts = unquote(request.path).strip("/").split("/")
        if parts == ["logstores"]:
            return "ListLogStores"
        if len(parts) == 4 and parts[0] == "logstores" and parts[2] == "shards" and request.method == "POST":
            return "PutLogs"
        if len(parts) == 3 and parts[0] == "logstores" and parts[2] == "logs" and request.method == "POST":
            return "GetLogs"
        if len(parts) == 2 and parts[0] == "logstores" and request.query.get("type") == "log":
            return "GetLogs"
        return "Unknown"

    def access_key_id_of(self, request: HttpRequest) -> str:
        auth = parse_log_authorization(request.header("authorization"))
        return auth.access_key_id if auth else ""

    def error_response(self, status: int, code: str, message: str) -> HttpResponse:
        """The service's JSON error body, with ``x-log-requestid``."""
        request_id = uuid.uuid4().hex[:24].upper()
        body = json.dumps({"errorCode": code, "errorMessage": message, "requestId": request_id})
        return HttpResponse(
            status,
            body.encode(),
            {"Content-Type": "application/json", "x-log-requestid": request_id},
            error_code=code,
        )

    def garbage_response(self) -> HttpResponse:
        """A 200 whose JSON body is cut short."""
        return HttpResponse(200, b'{"meta": {"count": 1', {"Content-Type": "application/json"})

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Authenticate and serve one request; never raises for a bad request."""
        action = self.action_of(request)
        auth = parse_log_authorization(request.header("authorization"))
        try:
            project = self._project_of(request)
            resource = unquote(request.path)
            if auth is None:
                raise _LogError(401, "Unauthorized", "Authorization header is missing or malformed.")
            self._authenticate(request, resource, auth)
            response = self._dispatch(action)(request, project, resource.strip("/").split("/"))
            response.headers.setdefault("x-log-requestid", uuid.uuid4().hex[:24].upper())
        except _LogError as exc:
            response = self.error_response(exc.status, exc.code, exc.message)
        response.action = action
        response.access_key_id = auth.access_key_id if auth else ""
        return response

    # ---- authentication ----------------------------------------------------------------------
    def _authenticate(self, request: HttpRequest, resource: str, auth: LogAuthorization) -> None:
        stored = self._state.lookup_key(auth.access_key_id)
        if stored is None:
            raise _LogError(401, "Unauthorized", f"AccessKeyId not found: {auth.access_key_id}")
        if stored.status != "Active":
            raise _LogError(401, "Unauthorized", f"AccessKeyId is disabled: {auth.access_key_id}")
        token = request.header("x-acs-security-token")
        if stored.security_token is not None or token:
            if stored.security_token is None or not hmac.compare_digest(token, stored.security_token):
                raise _LogError(401, "Unauthorized", "The security token you provided is invalid.")
            if stored.token_expires_at is not None and self._state.clock.time() >= stored.token_expires_at:
                raise _LogError(401, "Unauthorized", "The security token you provided has expired.")
        if auth.version == 4:
            scope_error = v4_scope_error(request, auth, self.region)
            if scope_error is not None:
                _LOGGER.debug("Log Service v4 scope refused: %s", scope_error)
                raise _LogError(401, "SignatureNotMatch", f"signature {auth.signature} not match")
            expected = v4_signature(request, resource, auth, stored.access_key_secret)
        else:
            expected = v1_signature(stored.access_key_secret, v1_string_to_sign(request, resource))
        if not hmac.compare_digest(expected.encode(), auth.signature.encode()):
            _LOGGER.debug("Log Service signature mismatch (v%d)", auth.version)
            raise _LogError(401, "SignatureNotMatch", f"signature {auth.signature} not match")

    # ---- operations --------------------------------------------------------------------------
    def _project_of(self, request: HttpRequest) -> str:
        host = request.header("host").partition(":")[0]
        suffix = "." + _HOST
        if not host.endswith(suffix):
            raise _LogError(400, "ProjectNotExist", "The Project does not exist : (none in the Host header)")
        return host[: -len(suffix)]

    def _store(self, project: str, logstore: str) -> _Logstore:
        # callers hold the lock
        stores = self._projects.get(project)
        if stores is None:
            raise _LogError(404, "ProjectNotExist", f"The Project does not exist : {project}")
        store = stores.get(logstore)
        if store is None:
            raise _LogError(404, "LogStoreNotExist", f"logstore {logstore} does not exist")
        return store

    def _dispatch(self, action: str) -> Callable[[HttpRequest, str, list[str]], HttpResponse]:
        handlers: dict[str, Callable[[HttpRequest, str, list[str]], HttpResponse]] = {
            "PutLogs": self._put_logs,
            "GetLogs": self._get_logs,
            "ListLogStores": self._list_logstores,
        }
        return handlers.get(action, self._unsupported)

    def _unsupported(self, request: HttpRequest, project: str, parts: list[str]) -> HttpResponse:
        raise _LogError(501, "NotImplemented", "This operation is not supported by the emulator.")

    def _put_logs(self, request: HttpRequest, project: str, parts: list[str]) -> HttpResponse:
        body = request.body
        try:
            raw_size = int(request.header("x-log-bodyrawsize", str(len(body))))
        except ValueError:
            raise _LogError(400, "InvalidBodyRawSize", "x-log-bodyrawsize is invalid.") from None
        compress_type = request.header("x-log-compresstype")
        try:
            if compress_type == "lz4":
                body = lz4_block_decompress(body, raw_size)
            elif compress_type:
                raise _LogError(
                    400, "InvalidCompressType", f"x-log-compresstype {compress_type} is unsupported."
                )
            elif raw_size != len(body):
                raise _LogError(400, "InvalidBodyRawSize", "x-log-bodyrawsize is invalid.")
            group = decode_log_group(body)
        except DecodeError as exc:
            raise _LogError(
                400, "PostBodyInvalid", f"The request body is not a valid LogGroup: {exc}"
            ) from None
        key = self.access_key_id_of(request)
        records = [
            StoredLog(
                time=log.time,
                contents=tuple(log.contents),
                topic=group.topic,
                source=group.source,
                tags=tuple(group.tags),
                access_key_id=key,
            )
            for log in group.logs
        ]
        with self._lock:
            self._store(project, parts[1]).logs.extend(records)
            self._lock.notify_all()
        return HttpResponse(200)

    def _get_logs(self, request: HttpRequest, project: str, parts: list[str]) -> HttpResponse:
        params: dict[str, object]
        if request.method == "POST":
            try:
                params = json.loads(request.body or b"{}")
            except ValueError:
                raise _LogError(
                    400, "PostBodyInvalid", "The request body is not valid JSON object."
                ) from None
        else:
            params = dict(request.query)
        try:
            start, end = int(str(params.get("from"))), int(str(params.get("to")))
            line, offset = int(str(params.get("line", 100))), int(str(params.get("offset", 0)))
        except ValueError:
            raise _LogError(400, "ParameterInvalid", "from, to, line and offset must be integers.") from None
        topic = params.get("topic")
        terms = _query_terms(str(params.get("query") or "*"))
        reverse = str(params.get("reverse", "false")).lower() == "true"
        with self._lock:
            matched = [
                log
                for log in self._store(project, parts[1]).logs
                if start <= log.time < end
                and (topic in (None, "") or log.topic == topic)
                and _matches(log, terms)
            ]
        if reverse:
            matched.reverse()
        rows = [log.as_dict() for log in matched[offset : offset + line]]
        headers = {
            "Content-Type": "application/json",
            "x-log-progress": "Complete",
            "x-log-count": str(len(rows)),
        }
        if request.method == "POST":
            meta = {
                "count": len(rows),
                "progress": "Complete",
                "processedRows": len(matched),
                "hasSQL": False,
            }
            return HttpResponse(200, json.dumps({"meta": meta, "data": rows}).encode(), headers)
        return HttpResponse(200, json.dumps(rows).encode(), headers)

    def _list_logstores(self, request: HttpRequest, project: str, parts: list[str]) -> HttpResponse:
        with self._lock:
            stores = self._projects.get(project)
            if stores is None:
                raise _LogError(404, "ProjectNotExist", f"The Project does not exist : {project}")
            names = sorted(stores)
        body = {"count": len(names), "total": len(names), "logstores": names}
        return HttpResponse(200, json.dumps(body).encode(), {"Content-Type": "application/json"})


def _query_terms(query: str) -> list[tuple[str, str]]:
    """``*`` -> no terms (everything); ``k1: v1 and k2:v2`` -> ``[(k1, v1), (k2, v2)]``."""
    text = re.sub(r":\s+", ":", query.strip())
    if text in ("", "*"):
        return []
    terms = []
    for token in text.split():
        key, sep, value = token.partition(":")
        if token.lower() != "and" and sep:
            terms.append((key, value))
    return terms


def _matches(log: StoredLog, terms: list[tuple[str, str]]) -> bool:
    contents = dict(log.contents)
    return all(contents.get(key) == value for key, value in terms)

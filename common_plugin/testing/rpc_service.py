"""The base of the emulator's RPC-style services (ECS-like, STS, the KMS gateway).

Authenticates each call with the RPC v1 signature (:mod:`.rpc_signature`) or, for Tea (V2 SDK)
clients, ACS3-HMAC-SHA256 (:mod:`.acs3_signature`), then dispatches the action.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping

from ..masking import mask_access_key_id
from . import acs3_signature
from .rpc_signature import RpcError, authenticate, request_parameters
from .state import AccessKey, CloudState
from .wire import HttpRequest, HttpResponse

__all__ = ["RpcServiceBase", "new_request_id"]

_LOGGER = logging.getLogger(__name__)


class RpcServiceBase:
    """Common plumbing of the RPC-style services: signature check, JSON replies, error bodies.

    Subclasses set ``name``, ``product`` and ``host_id`` and implement :meth:`dispatch`.
    """

    name = "rpc"
    product = "Ecs"
    host_id = "ecs.aliyuncs.com"

    def __init__(self, state: CloudState) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    def action_of(self, request: HttpRequest) -> str:
        if acs3_signature.is_acs3(request):
            return request.header("x-acs-action")
        return request.query.get("Action", "")

    def access_key_id_of(self, request: HttpRequest) -> str:
        if acs3_signature.is_acs3(request):
            auth = acs3_signature.parse_acs3_authorization(request.header("authorization"))
            return auth.access_key_id if auth is not None else ""
        return request.query.get("AccessKeyId", "")

    def error_response(self, status: int, code: str, message: str) -> HttpResponse:
        """A JSON error body as the OpenAPI gateway sends it."""
        request_id = new_request_id()
        body = {
            "RequestId": request_id,
            "HostId": self.host_id,
            "Code": code,
            "Message": message,
            "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}&product={self.product}",
        }
        return HttpResponse(
            status,
            json.dumps(body).encode(),
            {"Content-Type": "application/json;charset=utf-8", "x-acs-request-id": request_id},
            error_code=code,
        )

    def garbage_response(self) -> HttpResponse:
        """A 200 whose body is not JSON (what a captive portal or a misrouted proxy returns)."""
        return HttpResponse(200, b"<html><body>502 upstream garbage", {"Content-Type": "text/html"})

    def json_response(self, body: dict[str, object]) -> HttpResponse:
        request_id = str(body.setdefault("RequestId", new_request_id()))
        return HttpResponse(
            200,
            json.dumps(body).encode(),
            {"Content-Type": "application/json;charset=utf-8", "x-acs-request-id": request_id},
        )

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Authenticate, then :meth:`dispatch`; every failure becomes an error response."""
        params = request_parameters(request)
        v3 = acs3_signature.is_acs3(request)  # a Tea (V2 SDK) client: ACS3-HMAC-SHA256, action in a header
        action = self.action_of(request) if v3 else params.get("Action", "")
        key_id = self.access_key_id_of(request) if v3 else params.get("AccessKeyId", "")
        try:
            if v3:
                key = acs3_signature.authenticate_acs3(self.state, request)
            else:
                key = authenticate(self.state, request.method, params)
            response = self.dispatch(action, params, key)
        except RpcError as exc:
            _LOGGER.debug("%s %s from %s rejected: %s", self.name, action, mask_access_key_id(key_id), exc)
            response = self.error_response(exc.status, exc.code, exc.message)
        response.action = action
        response.access_key_id = key_id
        return response

    def dispatch(self, action: str, params: Mapping[str, str], caller: AccessKey) -> HttpResponse:
        """Answer an authenticated call (override). Raise :class:`RpcError` for error replies."""
        raise RpcError(
            404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method."
        )


def new_request_id() -> str:
    return str(uuid.uuid4()).upper()

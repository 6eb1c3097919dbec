"""A small JSON admin API over the emulated cloud, for the CLI and for out-of-process tests.

Every call needs ``Authorization: Bearer <token>`` (the token is made when the service is created);
anything else gets 401. Routes (request and response bodies are JSON objects):

====================================  =============================================================
``GET    /secrets``                   ``{"secrets": [names]}``
``POST   /secrets``                   ``{name, type: "ram"|"generic", rotation_interval_seconds,
                                      next_rotation_at, with_sts_token, token_ttl_seconds, data}``
``GET    /secrets/<name>``            metadata: type, versions and stages, masked key ids, dates
``POST   /secrets/<name>/rotate``     ``{grace_seconds}``; answers the new metadata
``POST   /rotate-due``                rotate every secret whose next rotation date has passed
``POST   /keys/<id>/disable|enable``  set the key Inactive / Active
``POST   /keys/<id>/revoke``          ``{after_seconds}``; delete the key now or after a grace period
``POST   /faults``                    ``{service, kind, status, code, seconds, count, probability,
                                      action}``
``DELETE /faults/<service>``          clear that service's faults
``GET    /counters``                  ``{"counters": [{service, action, access_key_id, count}]}``
``DELETE /counters``                  reset the counters
====================================  =============================================================

No answer ever contains an AccessKeySecret, a SecurityToken or SecretData; key ids are masked.

Thread-safety: ``handle`` may run on many threads at once; all state lives in :class:`CloudState`.
"""

from __future__ import annotations

import hmac
import json
import secrets
from typing import Any
from urllib.parse import unquote

from ..masking import mask_access_key_id
from .state import CloudState, Fault, FaultPlan, Secret, iso_utc
from .wire import HttpRequest, HttpResponse

__all__ = ["FAULT_KINDS", "AdminService"]

FAULT_KINDS = ("status", "latency", "reset", "truncate", "garbage")


class _AdminError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message


class AdminService:
    """The emulated cloud's admin endpoint (service name ``admin``).

    Args:
        state: the cloud to administer.
        token: the bearer token to require (default: a fresh random one, see :attr:`token`).
    """

    name = "admin"

    def __init__(self, state: CloudState, token: str | None = None) -> None:
        self.state = state
        self._token = token or secrets.token_urlsafe(24)

    def __repr__(self) -> str:
        return "AdminService(name='admin')"

    @property
    def token(self) -> str:
        """The bearer token callers must present."""
        return self._token

    # ---- service interface -------------------------------------------------------------------
    def action_of(self, request: HttpRequest) -> str:
        parts = _segments(request.path)
        route = "/".join(("<arg>" if i % 2 else part) for i, part in enumerate(parts))
        return f"{request.method} /{route}"

    def error_response(self, status: int, code: str, message: str) -> HttpResponse:
        headers = {"Content-Type": "application/json"}
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="local-aliyun"'
        return HttpResponse(status, json.dumps({"Code": code, "Message": message}).encode(), headers)

    def garbage_response(self) -> HttpResponse:
        return HttpResponse(200, b"not json", {"Content-Type": "application/json"})

    def handle(self, request: HttpRequest) -> HttpResponse:
        action = self.action_of(request)
        try:
            self._authorize(request)
            body = self._route(request.method, _segments(request.path), _json_body(request))
            response = HttpResponse(200, json.dumps(body).encode(), {"Content-Type": "application/json"})
        except _AdminError as exc:
            response = self.error_response(exc.status, exc.code, exc.message)
        response.action = action
        return response

    # ---- internals ---------------------------------------------------------------------------
    def _authorize(self, request: HttpRequest) -> None:
        scheme, _, presented = request.header("authorization").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip(), self._token):
            raise _AdminError(401, "Unauthorized", "A valid 'Authorization: Bearer <token>' is required.")

    def _route(self, method: str, parts: list[str], body: dict[str, Any]) -> dict[str, Any]:
        state = self.state
        match (method, parts):
            case ("GET", ["secrets"]):
                return {"secrets": state.secret_names()}
            case ("POST", ["secrets"]):
                return self._secret_metadata(self._create_secret(body))
            case ("GET", ["secrets", name]):
                return self._secret_metadata(self._secret(name))
            case ("POST", ["secrets", name, "rotate"]):
                self._secret(name)
                try:
                    state.rotate(name, grace_seconds=float(body.get("grace_seconds") or 0))
                except ValueError as exc:
                    raise _AdminError(400, "InvalidParameter", str(exc)) from None
                return self._secret_metadata(self._secret(name))
            case ("POST", ["rotate-due"]):
                return {"rotated": state.rotate_due()}
            case ("POST", ["keys", key_id, ("disable" | "enable") as verb]):
                if state.lookup_key(key_id) is None:
                    raise _AdminError(404, "KeyNotFound", "No such access key.")
                state.set_key_status(key_id, "Inactive" if verb == "disable" else "Active")
                return {"access_key_id": mask_access_key_id(key_id), "status": verb + "d"}
            case ("POST", ["keys", key_id, "revoke"]):
                if state.lookup_key(key_id) is None:
                    raise _AdminError(404, "KeyNotFound", "No such access key.")
                state.revoke_key(key_id, after_seconds=float(body.get("after_seconds") or 0))
                return {"access_key_id": mask_access_key_id(key_id), "status": "revoked"}
            case ("POST", ["faults"]):
                return self._add_fault(body)
            case ("DELETE", ["faults", service]):
                self._fault_plan(service).clear()
                return {"service": service, "cleared": True}
            case ("GET", ["counters"]):
                rows = [
                    {"service": s, "action": a, "access_key_id": _mask(k), "count": n}
                    for (s, a, k), n in sorted(state.counts().items())
                ]
                return {"counters": rows}
            case ("DELETE", ["counters"]):
                state.reset_counters()
                return {"reset": True}
        raise _AdminError(404, "NotFound", "No such admin route.")

    def _secret(self, name: str) -> Secret:
        secret = self.state.get_secret(name)
        if secret is None:
            raise _AdminError(404, "SecretNotFound", "No such secret.")
        return secret

    def _create_secret(self, body: dict[str, Any]) -> Secret:
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise _AdminError(400, "MissingParameter", "'name' is required.")
        kind = body.get("type", "ram")
        data = body.get("data")
        try:
            if kind == "generic":
                if not isinstance(data, str):
                    raise _AdminError(400, "InvalidParameter", "'data' must be a string (generic secret).")
                return self.state.create_generic_secret(name, data)
            if kind != "ram":
                raise _AdminError(400, "InvalidParameter", "'type' must be 'ram' or 'generic'.")
            if data is not None and not isinstance(data, dict):
                raise _AdminError(400, "InvalidParameter", "'data' must be an object for a ram secret.")
            interval = body.get("rotation_interval_seconds")
            next_at = body.get("next_rotation_at")
            return self.state.create_ram_secret(
                name,
                rotation_interval_seconds=float(interval) if interval is not None else None,
                next_rotation_at=float(next_at) if next_at is not None else None,
                with_sts_token=bool(body.get("with_sts_token", False)),
                token_ttl_seconds=float(body.get("token_ttl_seconds") or 3600.0),
                extra_data=data,
            )
        except (TypeError, ValueError) as exc:
            raise _AdminError(400, "InvalidParameter", str(exc)) from None

    def _secret_metadata(self, secret: Secret) -> dict[str, Any]:
        versions = [
            {
                "version_id": v.version_id,
                "stages": sorted(v.stages),
                "access_key_id": _mask(v.access_key_id),
                "created_at": iso_utc(v.created_at),
            }
            for v in list(secret.versions)
        ]
        current = versions[-1] if versions else {}
        for version in versions:
            if "ACSCurrent" in version["stages"]:
                current = version
        return {
            "name": secret.name,
            "type": secret.secret_type,
            "version_id": current.get("version_id", ""),
            "version_stages": current.get("stages", []),
            "access_key_id": current.get("access_key_id", ""),
            "versions": versions,
            "rotation_interval_seconds": secret.rotation_interval_seconds,
            "next_rotation_at": secret.next_rotation_at,
            "last_rotation_at": secret.last_rotation_at,
            "with_sts_token": secret.with_sts_token,
        }

    def _fault_plan(self, service: str) -> FaultPlan:
        plan = self.state.faults.get(service)
        if plan is None:
            raise _AdminError(404, "UnknownService", f"services are: {', '.join(sorted(self.state.faults))}")
        return plan

    def _add_fault(self, body: dict[str, Any]) -> dict[str, Any]:
        service = str(body.get("service", ""))
        plan = self._fault_plan(service)
        kind = body.get("kind")
        if kind not in FAULT_KINDS:
            raise _AdminError(400, "InvalidParameter", f"'kind' must be one of {', '.join(FAULT_KINDS)}.")
        try:
            fault = Fault(
                kind=kind,
                status=int(body.get("status", 500)),
                code=str(body.get("code", "InternalFailure")),
                seconds=float(body.get("seconds", 0.0)),
            )
            count = body.get("count", 1)
            probability = float(body.get("probability", 1.0))
            plan.add(
                fault,
                count=None if count is None else int(count),
                probability=probability,
                action=body.get("action") or None,
            )
        except (TypeError, ValueError) as exc:
            raise _AdminError(400, "InvalidParameter", str(exc)) from None
        return {"service": service, "kind": kind, "count": count, "probability": probability}


def _mask(access_key_id: str | None) -> str:
    return mask_access_key_id(access_key_id) if access_key_id else ""


def _segments(path: str) -> list[str]:
    return [unquote(part) for part in path.split("/") if part]


def _json_body(request: HttpRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    try:
        body = json.loads(request.body)
    except ValueError:
        raise _AdminError(400, "MalformedJson", "The request body is not JSON.") from None
    if not isinstance(body, dict):
        raise _AdminError(400, "MalformedJson", "The request body must be a JSON object.")
    return body

"""The KMS shared gateway (``kms.<region>.aliyuncs.com``): ``GetSecretValue`` over OpenAPI RPC v1.

What ``aliyunsdkkms``'s ``GetSecretValueRequest`` sends (docs/protocols.md section 1): a POST,
HTTPS by default, every parameter in the query, signed with HMAC-SHA1. Callers may use any key the
emulated account knows (a plain key, such as the emulator's bootstrap ``gateway_access_key``, or an STS
key from ``AssumeRole`` with its ``SecurityToken``).

Errors follow the KMS documentation: a missing secret is 404 ``Forbidden.ResourceNotFound``;
throttling is 429 ``Rejected.Throttling`` / "QPS Limit Exceeded" (help.aliyun.com knowledge 444042;
use :data:`THROTTLING` to inject it). KMS error bodies add ``HttpStatus`` to the gateway's fields.

Thread-safety: ``handle`` may run on many threads at once; all state lives in :class:`CloudState`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from .rpc_service import RpcServiceBase
from .rpc_signature import RpcError
from .state import AccessKey, CloudState, Fault
from .wire import HttpResponse

__all__ = ["THROTTLING", "KmsGatewayService"]

THROTTLING = Fault(kind="status", status=429, code="Rejected.Throttling")
"""The fault a throttled KMS call gets."""

_VERSION = "2016-01-20"


class KmsGatewayService(RpcServiceBase):
    """The emulated KMS OpenAPI endpoint (service name ``kms``)."""

    name = "kms"
    product = "Kms"
    host_id = "kms.cn-hangzhou.aliyuncs.com"

    def __init__(self, state: CloudState) -> None:
        super().__init__(state)

    def error_response(self, status: int, code: str, message: str) -> HttpResponse:
        response = super().error_response(status, code, message)
        body = json.loads(response.body)
        response.body = json.dumps({"HttpStatus": status, **body}).encode()
        return response

    def dispatch(self, action: str, params: Mapping[str, str], caller: AccessKey) -> HttpResponse:
        if action != "GetSecretValue":
            return super().dispatch(action, params, caller)
        if params.get("Version", _VERSION) != _VERSION:
            raise RpcError(400, "InvalidVersion", "Specified parameter Version is not valid.")
        name = params.get("SecretName", "")
        if not name:
            raise RpcError(400, "MissingParameter", "The parameter SecretName needed but not provided.")
        fetch_extended = params.get("FetchExtendedConfig", "").lower() == "true"
        try:
            fields = self.state.get_secret_value_fields(
                name,
                fetch_extended_config=fetch_extended,
                version_id=_given(params.get("VersionId")),
                version_stage=_given(params.get("VersionStage")),
            )
        except KeyError:
            raise RpcError(
                404, "Forbidden.ResourceNotFound", "The resource you requested is not found."
            ) from None
        stages = fields.pop("VersionStages")
        fields["VersionStages"] = {"VersionStage": stages}
        if not fetch_extended:
            fields.pop("ExtendedConfig", None)
        return self.json_response(fields)


def _given(value: str | None) -> str | None:
    """The SDK sends unset-but-assigned parameters as the text ``None``."""
    return None if value in (None, "", "None") else value

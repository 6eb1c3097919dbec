"""A generic OpenAPI RPC endpoint (service ``rpc``) and STS (service ``sts``).

``rpc`` stands for any product an application calls with the managed key: it answers Sts
``GetCallerIdentity`` and Ecs ``DescribeRegions`` (enough for ``CommonRequest`` tests), verifying each
signature against the keys that are valid *now*, so a rotated and revoked key is refused with
``InvalidAccessKeyId.NotFound``. Other actions get 404 ``InvalidAction.NotFound``.

``sts`` answers ``AssumeRole`` (and ``GetCallerIdentity``) so ``credentials_type=ram_role`` works with
``aliyunsdkcore``'s ``RamRoleArnCredential``. Its signer sends ``AssumeRole`` as an https POST to the
product ``Sts``; point it at the plain-HTTP emulator with a scheme-prefixed endpoint, which
``aliyunsdkcore`` honours over the request's protocol::

    client.add_endpoint(cloud.region_id, "Sts", "http://" + cloud.sts_endpoint)

Thread-safety: ``handle`` may run on many threads at once; all state lives in :class:`CloudState`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from .rpc_service import RpcServiceBase
from .rpc_signature import RpcError
from .state import AccessKey, CloudState, iso_utc
from .wire import HttpResponse

__all__ = ["RpcService", "StsService"]

_ROLE_ARN = re.compile(r"^acs:ram::(\d+):role/([A-Za-z0-9._@-]{1,64})$")
_SESSION_NAME = re.compile(r"^[A-Za-z0-9._@-]{2,64}$")
_MIN_DURATION_SECONDS = 900
_MAX_DURATION_SECONDS = 43200
_REGIONS = ("cn-hangzhou", "cn-shanghai", "cn-beijing", "ap-southeast-1")


def _numeric_id(prefix: str, seed: str) -> str:
    """A stable 18-digit principal id derived from ``seed``."""
    return prefix + str(int(hashlib.sha256(seed.encode()).hexdigest(), 16) % 10**17).zfill(17)


def caller_identity(state: CloudState, caller: AccessKey) -> dict[str, object]:
    """The ``GetCallerIdentity`` fields for ``caller``."""
    account = state.account_id
    if caller.assumed_role_arn:
        role = caller.assumed_role_arn.rsplit("/", 1)[-1]
        session = caller.role_session_name or "session"
        role_id = _numeric_id("3", caller.assumed_role_arn)
        return {
            "AccountId": account,
            "UserId": f"{role_id}:{session}",
            "Arn": f"acs:ram::{account}:assumed-role/{role}/{session}",
            "IdentityType": "AssumedRoleUser",
            "PrincipalId": f"{role_id}:{session}",
        }
    user_id = _numeric_id("2", caller.access_key_id)
    return {
        "AccountId": account,
        "UserId": user_id,
        "Arn": f"acs:ram::{account}:user/app-user",
        "IdentityType": "RAMUser",
        "PrincipalId": user_id,
    }


class RpcService(RpcServiceBase):
    """The generic RPC endpoint (service name ``rpc``)."""

    name = "rpc"
    product = "Ecs"
    host_id = "ecs.aliyuncs.com"

    def dispatch(self, action: str, params: Mapping[str, str], caller: AccessKey) -> HttpResponse:
        if action == "GetCallerIdentity":
            return self.json_response(caller_identity(self.state, caller))
        if action == "DescribeRegions":
            regions = [
                {
                    "RegionId": region,
                    "LocalName": region,
                    "RegionEndpoint": f"ecs.{region}.aliyuncs.com",
                    "Status": "available",
                }
                for region in _REGIONS
            ]
            return self.json_response({"Regions": {"Region": regions}})
        return super().dispatch(action, params, caller)


class StsService(RpcServiceBase):
    """The emulated STS endpoint (service name ``sts``)."""

    name = "sts"
    product = "Sts"
    host_id = "sts.aliyuncs.com"

    def dispatch(self, action: str, params: Mapping[str, str], caller: AccessKey) -> HttpResponse:
        if action == "GetCallerIdentity":
            return self.json_response(caller_identity(self.state, caller))
        if action == "AssumeRole":
            return self._assume_role(params)
        return super().dispatch(action, params, caller)

    def _assume_role(self, params: Mapping[str, str]) -> HttpResponse:
        role_arn = params.get("RoleArn", "")
        session_name = params.get("RoleSessionName", "")
        if not role_arn:
            raise RpcError(400, "MissingRoleArn", "RoleArn is mandatory for this action.")
        if not session_name:
            raise RpcError(400, "MissingRoleSessionName", "RoleSessionName is mandatory for this action.")
        match = _ROLE_ARN.match(role_arn)
        if match is None:
            raise RpcError(400, "InvalidParameter.RoleArn", "The parameter RoleArn is wrongly formed.")
        if not _SESSION_NAME.match(session_name):
            raise RpcError(
                400, "InvalidParameter.RoleSessionName", "The parameter RoleSessionName is wrongly formed."
            )
        try:
            duration = int(float(params.get("DurationSeconds") or 3600))
        except ValueError:
            duration = -1
        if not _MIN_DURATION_SECONDS <= duration <= _MAX_DURATION_SECONDS:
            raise RpcError(
                400,
                "InvalidParameter.DurationSeconds",
                f"The Min/Max value of DurationSeconds is {_MIN_DURATION_SECONDS}/{_MAX_DURATION_SECONDS}"
                " seconds.",
            )
        key = self.state.create_access_key(with_sts_token=True, token_ttl_seconds=duration)
        key.assumed_role_arn = role_arn
        key.role_session_name = session_name
        role_id = caller_identity(self.state, key)["PrincipalId"]
        return self.json_response(
            {
                "AssumedRoleUser": {
                    "Arn": f"acs:ram::{match.group(1)}:assumed-role/{match.group(2)}/{session_name}",
                    "AssumedRoleId": role_id,
                },
                "Credentials": {
                    "AccessKeyId": key.access_key_id,
                    "AccessKeySecret": key.access_key_secret,
                    "SecurityToken": key.security_token,
                    "Expiration": iso_utc(key.token_expires_at or 0.0),
                },
            }
        )

"""The generic RPC endpoint and STS against the real ``AcsClient`` (CommonRequest, RamRoleArnCredential)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.auth.credentials import RamRoleArnCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest

from common_plugin.testing import LocalAliyun
from common_plugin.testing.rpc_signature import (
    SIGNATURE_MISMATCH_PREFIX,
    compute_signature,
    string_to_sign,
)
from common_plugin.testing.state import AccessKey
from common_plugin.testing.wire import HttpRequest


def _client(cloud: LocalAliyun, key: AccessKey) -> AcsClient:
    client = AcsClient(key.access_key_id, key.access_key_secret, cloud.region_id, verify=str(cloud.ca_file))
    return cloud.configure_acs_client(client)


def _call(
    client: AcsClient, endpoint: str, action: str, product: str = "Sts", version: str = "2015-04-01"
) -> dict[str, Any]:
    request = CommonRequest(domain=endpoint, version=version, action_name=action, product=product)
    request.set_protocol_type("http")
    result: dict[str, Any] = json.loads(client.do_action_with_exception(request))
    return result


def test_get_caller_identity(local_aliyun: LocalAliyun) -> None:
    key = local_aliyun.gateway_access_key
    assert key is not None
    body = _call(_client(local_aliyun, key), local_aliyun.rpc_endpoint, "GetCallerIdentity")
    assert set(body) == {"RequestId", "AccountId", "UserId", "Arn", "IdentityType", "PrincipalId"}
    assert body["IdentityType"] == "RAMUser"
    assert local_aliyun.count("rpc", "GetCallerIdentity", key.access_key_id) == 1


def test_describe_regions_and_unknown_action(local_aliyun: LocalAliyun) -> None:
    key = local_aliyun.gateway_access_key
    assert key is not None
    client = _client(local_aliyun, key)
    body = _call(client, local_aliyun.rpc_endpoint, "DescribeRegions", "Ecs", "2014-05-26")
    assert "cn-hangzhou" in [r["RegionId"] for r in body["Regions"]["Region"]]
    with pytest.raises(ServerException) as info:
        _call(client, local_aliyun.rpc_endpoint, "RunInstances", "Ecs", "2014-05-26")
    assert (info.value.get_error_code(), info.value.get_http_status()) == ("InvalidAction.NotFound", 404)


def test_only_currently_valid_keys_are_accepted(local_aliyun: LocalAliyun) -> None:
    local_aliyun.create_ram_secret("app-ak")
    old = local_aliyun.current_key("app-ak")
    client = _client(local_aliyun, old)
    assert _call(client, local_aliyun.rpc_endpoint, "GetCallerIdentity")["AccountId"]
    local_aliyun.rotate("app-ak")
    with pytest.raises(ServerException) as info:
        _call(client, local_aliyun.rpc_endpoint, "GetCallerIdentity")
    assert (info.value.get_error_code(), info.value.get_http_status()) == ("InvalidAccessKeyId.NotFound", 404)
    new_client = _client(local_aliyun, local_aliyun.current_key("app-ak"))
    assert _call(new_client, local_aliyun.rpc_endpoint, "GetCallerIdentity")["IdentityType"] == "RAMUser"


def test_ram_role_arn_credential_assumes_role_through_sts(local_aliyun: LocalAliyun) -> None:
    key = local_aliyun.gateway_access_key
    assert key is not None
    credential = RamRoleArnCredential(
        key.access_key_id, key.access_key_secret, local_aliyun.role_arn, "app-session"
    )
    client = AcsClient(
        region_id=local_aliyun.region_id, credential=credential, verify=str(local_aliyun.ca_file)
    )
    local_aliyun.configure_acs_client(client)  # routes the signer's AssumeRole to the emulator's STS

    body = _call(client, local_aliyun.rpc_endpoint, "GetCallerIdentity")
    assert body["IdentityType"] == "AssumedRoleUser"
    assert body["Arn"].endswith(":assumed-role/managed-credentials-reader/app-session")
    assert local_aliyun.count("sts", "AssumeRole", key.access_key_id) == 1
    assert local_aliyun.count("rpc", "GetCallerIdentity") == 1
    assert local_aliyun.count("rpc", "GetCallerIdentity", key.access_key_id) == 0  # signed with the STS key


def test_assume_role_rejects_a_malformed_role(local_aliyun: LocalAliyun) -> None:
    key = local_aliyun.gateway_access_key
    assert key is not None
    request = CommonRequest(
        domain=local_aliyun.sts_endpoint, version="2015-04-01", action_name="AssumeRole", product="Sts"
    )
    request.set_protocol_type("http")
    request.set_method("POST")
    request.add_query_param("RoleArn", "not-an-arn")
    request.add_query_param("RoleSessionName", "s1")
    with pytest.raises(ServerException) as info:
        _client(local_aliyun, key).do_action_with_exception(request)
    assert info.value.get_error_code() == "InvalidParameter.RoleArn"


def test_signature_mismatch_message_carries_the_string_to_sign(local_aliyun: LocalAliyun) -> None:
    key = local_aliyun.gateway_access_key
    assert key is not None
    params = {
        "Action": "GetCallerIdentity",
        "AccessKeyId": key.access_key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureType": "",
        "SignatureVersion": "1.0",
        "Timestamp": "2026-11-23T11:51:55Z",
        "SignatureNonce": "0123456789abcdef0123456789abcdef",
        "N": "a b*~/é",
    }
    params["Signature"] = compute_signature("wrong", string_to_sign("GET", params))
    response = local_aliyun.rpc.handle(HttpRequest("GET", "/?" + urlencode(params), {}))
    body = json.loads(response.body)
    assert (response.status, body["Code"]) == (400, "SignatureDoesNotMatch")
    assert body["Message"] == SIGNATURE_MISMATCH_PREFIX + string_to_sign("GET", params)
    assert body["Message"].split(":")[1] == string_to_sign("GET", params)  # what AcsClient compares
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    params["Signature"] = compute_signature(key.access_key_secret, string_to_sign("GET", params))
    assert local_aliyun.rpc.handle(HttpRequest("GET", "/?" + urlencode(params), {})).status == 200

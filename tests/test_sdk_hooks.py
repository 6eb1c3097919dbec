"""Pins the one private aliyunsdkcore hook this suite relies on.

If a newer aliyun-python-sdk-core drops or renames it, these tests fail with a message that says
what to re-check, instead of ProxyAcsClient and the KMS gateway source silently breaking.
"""

from __future__ import annotations

import inspect

import aliyunsdkcore
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import AcsRequest, RpcRequest

CHECKED = "2.16.1"


def test_acs_client_implementation_of_do_action_is_still_there() -> None:
    hook = getattr(AcsClient, "_implementation_of_do_action", None)
    assert hook is not None, (
        f"aliyunsdkcore {aliyunsdkcore.__version__} has no AcsClient._implementation_of_do_action "
        f"(checked against {CHECKED}); update sdk_core_plugin/proxy_acs_client.py and sources/gateway.py"
    )
    params = list(inspect.signature(hook).parameters)
    assert params == ["self", "request", "signer"], (
        f"AcsClient._implementation_of_do_action{inspect.signature(hook)} in aliyunsdkcore "
        f"{aliyunsdkcore.__version__} changed shape since {CHECKED}"
    )
    # Every public entry point funnels through it (do_action_with_exception, do_action, get_response).
    for entry in ("do_action_with_exception", "do_action", "implementation_of_do_action"):
        assert "_implementation_of_do_action" in inspect.getsource(getattr(AcsClient, entry)), entry


def test_signer_seam_used_by_the_snapshot_signer() -> None:
    source = inspect.getsource(AcsClient._make_http_response)
    assert "signer.sign(self._region_id, request)" in source, (
        f"aliyunsdkcore {aliyunsdkcore.__version__} no longer signs via signer.sign(region_id, request)"
    )
    for name in ("get_signed_header", "get_url", "get_style", "get_query_params", "add_query_param"):
        assert callable(getattr(RpcRequest, name, None)) or callable(getattr(AcsRequest, name, None)), name


def test_rpc_request_signature_algorithm_attribute() -> None:
    """ClientKeySigner sets ``request._signer`` to aliyunsdkcore's SHA256withRSA module."""
    from aliyunsdkcore.auth.algorithm import sha_hmac256

    request = RpcRequest("Kms", "2016-01-20", "GetSecretValue")
    assert hasattr(request, "_signer"), (
        f"aliyunsdkcore {aliyunsdkcore.__version__}: RpcRequest._signer is gone"
    )
    assert "self._signer" in inspect.getsource(RpcRequest.get_url)
    assert sha_hmac256.get_signer_name() == "SHA256withRSA" and sha_hmac256.get_signer_type() == "PRIVATEKEY"

"""Pins the SDK internals listed in docs/sdk_hooks.md (aliyunsdkcore, Tea, alibabacloud-oss-v2,
alibabacloud-tea-openapi; the oss2 ones are in test_oss_hooks.py).

If a newer SDK drops or renames one, these tests fail with a message that says what to re-check,
instead of ProxyAcsClient, the KMS sources or an adapter silently breaking.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import aliyunsdkcore
import pytest
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import AcsRequest, RpcRequest

from common_plugin.testing import LocalAliyun

CHECKED = "2.16.1"
HOOKS_DOC = Path(__file__).resolve().parents[1] / "docs" / "sdk_hooks.md"


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


def test_acs_client_own_signer_attribute() -> None:
    """ProxyAcsClient sets ``AcsClient._signer`` to None so nothing signs with the placeholder key."""
    client = AcsClient("placeholder-id", "placeholder-secret", "cn-hangzhou")
    assert hasattr(client, "_signer"), f"aliyunsdkcore {aliyunsdkcore.__version__}: AcsClient._signer is gone"
    source = inspect.getsource(AcsClient._make_http_response)
    assert "self._signer if specific_signer is None else specific_signer" in source, (
        f"aliyunsdkcore {aliyunsdkcore.__version__}: AcsClient no longer falls back to self._signer "
        "only when no signer is passed"
    )


def test_tea_core_session_pool() -> None:
    """KmsInstanceSource.after_fork clears ``TeaCore._sessions`` and ``DaraCore._sessions``, the
    process-wide HTTPS session pools of the two Tea cores."""
    from darabonba.core import DaraCore
    from Tea.core import TeaCore

    for core, package in ((TeaCore, "alibabacloud-tea"), (DaraCore, "darabonba-core")):
        sessions = getattr(core, "_sessions", None)
        assert isinstance(sessions, dict), (
            f"{package}: {core.__name__}._sessions is gone; fix KmsInstanceSource.after_fork"
        )
        assert f"{core.__name__}._sessions" in inspect.getsource(core), (
            f"{package}: {core.__name__} no longer pools its sessions in _sessions; fix "
            "KmsInstanceSource.after_fork"
        )


class _Recorder:
    """Records, in order, the alibabacloud-oss-v2 hook calls of one operation."""

    def __init__(self, cloud: LocalAliyun) -> None:
        import alibabacloud_oss_v2 as oss

        key = cloud.state.create_access_key()
        self.calls: list[str] = []
        static = oss.credentials.StaticCredentialsProvider(key.access_key_id, key.access_key_secret)
        recorder = self

        class Credentials(oss.types.CredentialsProvider):  # type: ignore[misc]
            def get_credentials(self) -> Any:
                recorder.calls.append("sign")
                return static.get_credentials()

        class Retryer(oss.types.Retryer):  # type: ignore[misc]
            def is_error_retryable(self, error: Exception) -> bool:
                recorder.calls.append("judge")
                return True

            def max_attempts(self) -> int:
                return 2

            def retry_delay(self, attempt: int, error: Exception) -> float:
                recorder.calls.append("delay")
                return 0.0

        config = oss.config.load_default()
        config.region, config.endpoint = cloud.region_id, cloud.oss_endpoint
        config.credentials_provider = Credentials()
        config.retryer = Retryer()
        self.config = config


@pytest.mark.parametrize("flavour", ["sync", "aio"])
def test_oss_v2_attempt_loop(local_aliyun: LocalAliyun, flavour: str) -> None:
    """oss_plugin.v2 scopes its one rejection retry to an operation by this order of calls."""
    import alibabacloud_oss_v2 as oss

    from common_plugin.testing.state import Fault

    local_aliyun.create_bucket("bkt")
    local_aliyun.inject_fault("oss", Fault("status", status=503, code="ServiceUnavailable"), count=2)
    recorder = _Recorder(local_aliyun)
    request = oss.GetObjectRequest(bucket="bkt", key="k")
    with pytest.raises(oss.exceptions.OperationError):
        if flavour == "sync":
            oss.Client(recorder.config).get_object(request)
        else:
            import alibabacloud_oss_v2.aio as oss_aio

            async def run() -> None:
                client = oss_aio.AsyncClient(recorder.config)
                try:
                    await client.get_object(request)
                finally:
                    await client.close()

            asyncio.run(run())
    assert recorder.calls == ["sign", "judge", "delay", "sign", "judge"], (
        f"alibabacloud-oss-v2 {oss.__version__} ({flavour}) changed its attempt loop: {recorder.calls}; "
        "re-check oss_plugin/v2.py (the operation scope of the rejection retry)"
    )


def test_tea_openapi_pulls_the_credential_per_request(local_aliyun: LocalAliyun) -> None:
    """Tea V2 clients ask Config(credential=...) for a key on every request (adapters/tea.py)."""
    from alibabacloud_credentials.client import Client as CredentialClient
    from alibabacloud_credentials_api import ICredentials, ICredentialsProvider
    from alibabacloud_sts20150401.client import Client as StsClient
    from alibabacloud_tea_openapi import utils_models as open_api_models

    key = local_aliyun.state.create_access_key()
    pulls: list[int] = []

    class Credentials(ICredentials):  # type: ignore[misc]
        def get_access_key_id(self) -> str:
            return key.access_key_id

        def get_access_key_secret(self) -> str:
            return key.access_key_secret

        def get_security_token(self) -> str:
            return ""

        def get_provider_name(self) -> str:
            return "pin"

    class Counting(ICredentialsProvider):  # type: ignore[misc]
        def get_credentials(self) -> ICredentials:
            pulls.append(1)
            return Credentials()

        def get_provider_name(self) -> str:
            return "pin"

    config = open_api_models.Config(
        credential=CredentialClient(provider=Counting()),
        endpoint=local_aliyun.sts_endpoint,
        protocol="http",
        region_id=local_aliyun.region_id,
    )
    client = StsClient(config)
    client.get_caller_identity()
    client.get_caller_identity()
    assert len(pulls) == 2, "alibabacloud-tea-openapi no longer pulls the credential once per request"


def test_every_hook_listed_here_is_pinned() -> None:
    """docs/sdk_hooks.md names, for each internal we rely on, a pin test that exists."""
    text = HOOKS_DOC.read_text(encoding="utf-8")
    pins = re.findall(r"`tests/(test_\w+)\.py::(\w+)`", text)
    assert len(pins) >= 10
    for module_name, test_name in pins:
        module = importlib.import_module(module_name)
        assert callable(getattr(module, test_name, None)), f"docs/sdk_hooks.md names a missing {test_name}"
    pinned_here = {name for module_name, name in pins if module_name == "test_sdk_hooks"}
    own = {name for name in globals() if name.startswith("test_")} - {"test_every_hook_listed_here_is_pinned"}
    assert own <= pinned_here, f"pin tests not listed in docs/sdk_hooks.md: {sorted(own - pinned_here)}"

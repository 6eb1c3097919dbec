"""Each package's __all__ is sorted and exactly its public surface."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "common_plugin": {
        "AKExpireHandler",
        "BackgroundScheduler",
        "ConfigError",
        "ConfigLoader",
        "CredentialEvent",
        "EventKind",
        "ProviderStatus",
        "SecretStatus",
        "CredentialsProvider",
        "ErrorCodeExpireHandler",
        "MalformedSecretError",
        "ManagedCredential",
        "ManagedCredentialsError",
        "ManualClock",
        "ManualScheduler",
        "ProviderClosedError",
        "ProviderConfig",
        "RefreshPolicy",
        "Scheduler",
        "SecretFetchError",
        "SecretSource",
        "SecretValue",
        "SystemClock",
        "default_manager",
        "load_config",
        "mask_access_key_id",
        "provider_from_config",
        "set_default_provider_factory",
    },
    "sdk_core_plugin": {"ProxyAcsClient", "SdkCoreAKExpireHandler"},
    "common_plugin.sources": {
        "DkmsSource",
        "FailoverSource",
        "GatewaySource",
        "SecretSource",
        "build_source",
    },
    "common_plugin.retry": {
        "Rewind",
        "accept_replacement",
        "decide_retry",
        "is_rejection",
        "record_retry",
        "replacement_for",
    },
    "common_plugin.adapters.tea": {
        "RefreshingTeaClient",
        "TeaAKExpireHandler",
        "TeaCredentialsProvider",
        "call_with_refresh",
        "call_with_refresh_async",
    },
    "common_plugin.adapters.aio": {
        "AsyncCredentialsProvider",
        "async_provider",
        "decide_retry_async",
        "get_async",
        "refresh_rejected_async",
    },
    "common_plugin.adapters.endpoint": {"CredentialsServer", "TOKEN_ENV", "credentials_document"},
    "common_plugin.cli.serve": {"add_serve_command", "run_serve"},
    "oss_plugin.v2": {"ManagedOssV2CredentialsProvider", "ManagedOssV2Retryer", "configure"},
    "common_plugin.adapters.pinned": {
        "ClientLease",
        "PinnedCredentials",
        "call_with_one_retry",
        "rewinder_for",
    },
    "maxcompute_plugin": {
        "ManagedOdpsAccount",
        "ManagedRestClient",
        "MaxComputeAKExpireHandler",
        "ProxyOdps",
    },
    "log_plugin": {
        "LogAKExpireHandler",
        "ManagedLogCredentialsProvider",
        "ManagedQueuedLogHandler",
        "ManagedSimpleLogHandler",
        "ProxyLogClient",
    },
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_all_is_sorted_and_exact(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = list(module.__all__)
    assert exported == sorted(exported)
    assert set(exported) == PUBLIC[module_name]
    public_attrs = {n for n in vars(module) if not n.startswith("_")}
    for name in exported:
        assert name in public_attrs

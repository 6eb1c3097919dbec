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
        "CredentialExpiredError",
        "EventKind",
        "FetchDeadlineError",
        "InsecureTransportWarning",
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
        "KmsInstanceSource",
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
    "common_plugin.adapters.endpoint": {
        "CredentialsServer",
        "MAX_AGE_LIMIT_SECONDS",
        "MIN_TOKEN_LENGTH",
        "TOKEN_ENV",
        "check_server_options",
        "credentials_document",
    },
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
    for name in exported:  # resolved through getattr: common_plugin re-exports lazily (PEP 562)
        assert getattr(module, name) is not None, name
        assert name in dir(module)

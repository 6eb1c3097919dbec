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
        "SecretSource",
        "build_source",
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

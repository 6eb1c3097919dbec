"""Pins the aliyun-log-python-sdk internals listed in docs/sdk_hooks.md.

If a newer SDK drops or renames one, these tests fail with a message that says what to re-check,
instead of ProxyLogClient, the managed logging handlers or the emulator silently breaking.
"""

from __future__ import annotations

import inspect
import time

import requests
from aliyun.log import LogClient, LogItem, PutLogsRequest, SimpleLogHandler
from aliyun.log.credentials import Credentials, CredentialsProvider
from aliyun.log.version import USER_AGENT

from common_plugin.testing import LocalAliyun

CHECKED = "0.9.52"


def _version() -> str:
    return USER_AGENT


def test_log_client_send_is_the_one_request_path() -> None:
    hook = getattr(LogClient, "_send", None)
    assert hook is not None, (
        f"{_version()}: LogClient._send is gone (checked {CHECKED}); re-check log_plugin/client.py"
    )
    params = list(inspect.signature(hook).parameters)
    assert params == [
        "self",
        "method",
        "project",
        "body",
        "resource",
        "params",
        "headers",
        "respons_body_type",
        "compute_content_hash",
    ], f"{_version()}: LogClient._send{inspect.signature(hook)} changed shape since {CHECKED}"
    for entry in ("put_logs", "put_log_raw", "get_log", "list_logstore", "list_logstores", "create_logstore"):
        assert "self._send(" in inspect.getsource(getattr(LogClient, entry)), (
            f"LogClient.{entry} bypasses _send"
        )
    # Inside _send, each attempt signs through the auth object (which asks our credentials provider).
    assert "self._auth.sign_request(" in inspect.getsource(LogClient._send)


def test_log_client_session_and_ip_flag() -> None:
    """``_session`` (ProxyLogClient.shutdown closes it), ``_isRowIp`` (LocalAliyun.configure_log_client)."""
    client = LogClient("127.0.0.1:8080", "id", "secret")
    assert isinstance(getattr(client, "_session", None), requests.Session), (
        f"{_version()}: LogClient._session"
    )
    assert getattr(client, "_isRowIp", None) is False, f"{_version()}: LogClient._isRowIp"
    assert "self._isRowIp" in inspect.getsource(LogClient._send)


def test_logging_handler_creates_its_client_lazily() -> None:
    """The managed handlers override ``create_client`` and set ``client``; the SDK calls it from ``send``."""
    source = inspect.getsource(SimpleLogHandler.send)
    assert "self.create_client()" in source and "self.client" in source, (
        f"{_version()}: SimpleLogHandler.send no longer calls create_client(); re-check "
        "log_plugin/logging_handlers.py"
    )
    handler = SimpleLogHandler("127.0.0.1:8080", "id", "secret", "p", "s")
    assert handler.client is None


class CountingProvider(CredentialsProvider):  # type: ignore[misc]
    def __init__(self, key_id: str, secret: str) -> None:
        self.calls = 0
        self._credentials = Credentials(key_id, secret, None)

    def get_credentials(self) -> Credentials:
        self.calls += 1
        return self._credentials


def test_the_client_asks_its_credentials_provider_once_per_signed_request(local_aliyun: LocalAliyun) -> None:
    local_aliyun.create_logstore("hooks", "store")
    key = local_aliyun.state.create_access_key()
    for auth_version in ("v1", "v4"):
        counting = CountingProvider(key.access_key_id, key.access_key_secret)
        client = local_aliyun.configure_log_client(
            LogClient(
                local_aliyun.log_endpoint,
                credentials_provider=counting,
                auth_version=auth_version,
                region=local_aliyun.region_id,
            )
        )
        for _ in range(2):
            item = LogItem(timestamp=int(time.time()), contents=[("k", "v")])
            client.put_logs(PutLogsRequest("hooks", "store", "", "", [item]))
        assert counting.calls == 2, f"{_version()} {auth_version}: get_credentials() is not asked per request"

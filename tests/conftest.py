"""Test-wide setup: keep the SDKs' loopback traffic off any proxy and away from ambient credentials.

AcsClient and the DKMS Tea client send 127.0.0.1 traffic through HTTP(S)_PROXY even when NO_PROXY is
set, and ALIYUN_ACCESS_KEY_ID/SECRET override AcsClient's own credentials (see
shared/design/protocols.md section 0), so both are cleared for every test.
"""

from __future__ import annotations

import pytest

_AMBIENT = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "ALIYUN_ACCESS_KEY_ID",
    "ALIYUN_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _AMBIENT:
        monkeypatch.delenv(name, raising=False)

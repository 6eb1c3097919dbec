"""Environment variables that make the SDKs misbehave against a loopback emulator.

AcsClient (and the Tea-based SDKs) send 127.0.0.1 traffic through ``HTTP(S)_PROXY`` even when
``NO_PROXY`` names it, and ``ALIYUN_ACCESS_KEY_ID``/``SECRET`` override the credentials an AcsClient
is given; CA-bundle variables change what TLS trusts. Tests, demos and benchmarks that talk to the
emulator drop them first.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

__all__ = ["AMBIENT_VARIABLES", "clear_ambient_environment"]

AMBIENT_VARIABLES = (
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


def clear_ambient_environment(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Remove :data:`AMBIENT_VARIABLES` from ``environ`` (default ``os.environ``); return their names."""
    target = os.environ if environ is None else environ
    removed = [name for name in AMBIENT_VARIABLES if name in target]
    for name in removed:
        del target[name]
    return removed

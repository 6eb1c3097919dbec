"""A local Alibaba Cloud emulator (DKMS, KMS gateway and instance, RPC OpenAPI, STS, OSS) for offline tests.

Start with :class:`LocalAliyun`; the pytest fixtures live in :mod:`.pytest_plugin`. ``ClientKey`` is
loaded on first use: the DKMS service is optional (a missing module is skipped by the emulator).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .emulator import LocalAliyun
from .kms_gateway import THROTTLING
from .state import AccessKey, CloudState, Fault
from .wire import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from .dkms import ClientKey

__all__ = [
    "AccessKey",
    "ClientKey",
    "CloudState",
    "Fault",
    "HttpRequest",
    "HttpResponse",
    "LocalAliyun",
    "THROTTLING",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    if name == "ClientKey":
        from .dkms import ClientKey

        return ClientKey
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

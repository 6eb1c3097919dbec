"""Where secrets come from: a KMS instance (client key or RAM credentials) or the KMS shared gateway."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .sdk_logging import silence_sdk_wire_logging

if TYPE_CHECKING:
    from .base import SecretSource
    from .dkms import DkmsSource
    from .factory import build_source
    from .failover import FailoverSource
    from .gateway import GatewaySource
    from .kms_instance import KmsInstanceSource

# Before any SDK client is used, by whichever plugin (see sdk_logging for why).
silence_sdk_wire_logging()

# Imported on first access (PEP 562): the provider needs only the SecretSource interface, and the
# DKMS and gateway clients are needed only when a configuration builds them.
_HOMES = {
    "DkmsSource": ".dkms",
    "FailoverSource": ".failover",
    "GatewaySource": ".gateway",
    "KmsInstanceSource": ".kms_instance",
    "SecretSource": ".base",
    "build_source": ".factory",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "DkmsSource",
    "FailoverSource",
    "GatewaySource",
    "KmsInstanceSource",
    "SecretSource",
    "build_source",
]

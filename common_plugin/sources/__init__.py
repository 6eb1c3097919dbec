"""Where secrets come from: a KMS instance (client key or RAM credentials) or the KMS shared gateway."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
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


__getattr__ = lazy_exports(__name__, _HOMES)


__all__ = [
    "DkmsSource",
    "FailoverSource",
    "GatewaySource",
    "KmsInstanceSource",
    "SecretSource",
    "build_source",
]

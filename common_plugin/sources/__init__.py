"""Where secrets come from: a KMS instance (client key or RAM credentials) or the KMS shared gateway."""

from __future__ import annotations

from .base import SecretSource
from .dkms import DkmsSource
from .factory import build_source
from .failover import FailoverSource
from .gateway import GatewaySource
from .kms_instance import KmsInstanceSource
from .sdk_logging import silence_sdk_wire_logging

# Before any SDK client is used, by whichever plugin (see sdk_logging for why).
silence_sdk_wire_logging()

__all__ = [
    "DkmsSource",
    "FailoverSource",
    "GatewaySource",
    "KmsInstanceSource",
    "SecretSource",
    "build_source",
]

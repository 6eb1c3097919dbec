"""Where secrets come from: a dedicated KMS instance (DKMS) or the KMS shared gateway."""

from __future__ import annotations

from .base import SecretSource
from .dkms import DkmsSource
from .factory import build_source
from .failover import FailoverSource
from .gateway import GatewaySource
from .sdk_logging import silence_sdk_wire_logging

# Before any SDK client is used, by whichever plugin (see sdk_logging for why).
silence_sdk_wire_logging()

__all__ = ["DkmsSource", "FailoverSource", "GatewaySource", "SecretSource", "build_source"]

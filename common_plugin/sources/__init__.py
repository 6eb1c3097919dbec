"""Where secrets come from: a dedicated KMS instance (DKMS) or the KMS shared gateway."""

from __future__ import annotations

from .base import SecretSource

__all__ = ["SecretSource"]

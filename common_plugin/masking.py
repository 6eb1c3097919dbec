"""Masking of identifiers for logs and reprs. Secrets are never shown at all."""

from __future__ import annotations

__all__ = ["mask_access_key_id"]


def mask_access_key_id(access_key_id: str | None) -> str:
    """Return ``LTAI****abcd``: the first and last four characters, or ``****`` when too short."""
    if not access_key_id:
        return "<none>"
    if len(access_key_id) <= 10:
        return "****" + access_key_id[-2:]
    return f"{access_key_id[:4]}****{access_key_id[-4:]}"

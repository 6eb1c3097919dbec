"""pytest fixtures for the local Alibaba Cloud emulator (registered through the ``pytest11`` entry point)."""

from __future__ import annotations

"""The ``managed-credentials`` command line (``check``, ``get``, ``emulator``, ``demo``, ``serve``).

The top layer: the only part of the package that may import the SDK plugins and the emulator.
"""

from __future__ import annotations

from .commands import main

__all__ = ["main"]

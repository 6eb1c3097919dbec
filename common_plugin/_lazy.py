"""Lazy re-exports for a package's ``__init__`` (PEP 562).

A package lists where each public name lives and sets ``__getattr__ = lazy_exports(__name__, homes)``;
a name is imported on first access and then kept in the package's namespace, so later lookups are
plain attribute reads. Importing one submodule (as the SDK plugins do) therefore does not load the
rest of the package. Thread-safe: the import system serialises imports, and storing the same value
twice is harmless.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package``: ``homes`` maps each name to its relative module."""
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home, package), name)
        namespace[name] = value
        return value

    return __getattr__

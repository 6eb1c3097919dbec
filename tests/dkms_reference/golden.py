"""The committed golden fixture and its client key, for the reference tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["FIXTURES", "GOLDEN", "KEY_CONTENT", "LEGACY_KEY_CONTENT", "PASSWORD"]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GOLDEN: dict[str, Any] = json.loads((FIXTURES / "dkms_golden.json").read_text(encoding="utf-8"))
KEY_CONTENT = (FIXTURES / GOLDEN["key_files"][0]).read_text(encoding="utf-8")
LEGACY_KEY_CONTENT = (FIXTURES / GOLDEN["key_files"][1]).read_text(encoding="utf-8")
PASSWORD: str = GOLDEN["password"]

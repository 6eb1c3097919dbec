"""The benchmarks' original-suite driver runs in the original's Python 3.10 venv, where this project is
not installed: neither it nor any benchmark module it imports may import our packages."""

from __future__ import annotations

import ast
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
OURS = ("common_plugin", "sdk_core_plugin", "oss_plugin")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _closure(start: str) -> dict[str, set[str]]:
    """Every benchmark module reachable from ``start`` by import, with its imports."""
    seen: dict[str, set[str]] = {}
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen[name] = _imports(BENCH / f"{name}.py")
        todo += [m for m in seen[name] if (BENCH / f"{m}.py").is_file()]
    return seen


def test_the_original_driver_never_imports_this_project() -> None:
    closure = _closure("_original_driver")
    assert "_stats" in closure  # the timing helpers it needs come from the stdlib-only module
    offending = {
        module: sorted(n for n in names if n.split(".")[0] in OURS) for module, names in closure.items()
    }
    assert not any(offending.values()), offending

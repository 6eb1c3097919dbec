"""Resolver check: this package beside the newest releases of what an application around it pins.

An application that adds this suite must not have pip quietly hold its cryptography, protobuf,
OpenTelemetry exporter or Alibaba Cloud SDKs below their newest release. In a throw-away venv with
the newest pip (python3.11):

1. ``pip install --dry-run --report --no-deps`` of each neighbour alone: its newest release for this
   Python (pip's own choice, so yanked and incompatible files are skipped as pip skips them);
2. ``pip install --dry-run --report '<clean copy>[tea]' <neighbours>``: what pip chooses together;
3. print both, and fail if any neighbour was held below its newest release.

While ``install_requires`` still names ``alibabacloud-dkms-gcs`` (its pins, ``pyopenssl<23.3`` and
``protobuf<4``, hold cryptography and protobuf back by design) the check prints why and skips; it
becomes strict by itself once that requirement is gone. ``--force`` runs it anyway, to see what the
pins cost.

Run alone: ``python3 tools/check_resolver.py [--force]``; ``make test-install`` runs it with the rest.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pipenv import (  # noqa: E402
    DIST_NAME,
    ROOT,
    CheckFailed,
    Log,
    canonical,
    clean_copy,
    find_python,
    make_venv,
    report,
    requirement_name,
)

NEIGHBOURS = (
    "cryptography",
    "protobuf",
    "opentelemetry-exporter-otlp-proto-grpc",
    "alibabacloud-credentials",
    "alibabacloud-oss-v2",
)
# The extra whose adapters sit next to alibabacloud-credentials and alibabacloud-oss-v2.
EXTRA = "tea"
LEGACY_DKMS_SDK = "alibabacloud-dkms-gcs"


def _versions(installs: list[dict[str, Any]]) -> dict[str, str]:
    return {canonical(str(item["metadata"]["name"])): str(item["metadata"]["version"]) for item in installs}


def _install_requires(installs: list[dict[str, Any]]) -> list[str]:
    for item in installs:
        meta = item["metadata"]
        if canonical(str(meta["name"])) == DIST_NAME:
            requires = meta.get("requires_dist") or []
            return [str(r) for r in requires if "extra" not in str(r).partition(";")[2]]
    raise CheckFailed(f"pip's report does not list {DIST_NAME}")


def check_resolver(log: Log, python: str, workdir: Path, *, force: bool = False, project: Path = ROOT) -> str:
    """Run the check in ``workdir``; returns ``"ok"`` or ``"skipped: <why>"``.

    Raises:
        CheckFailed: a command failed, or a neighbour was held below its newest release.
    """
    venv = make_venv(log, python, workdir / "venv")
    venv.pip(log, "install", "--quiet", "--upgrade", "pip")
    log.say(f"pip {venv.pip_version(log)}")
    source = clean_copy(workdir / "src", project)
    ours = _install_requires(report(venv, log, workdir / "ours.json", "--no-deps", str(source)))
    legacy = [r for r in ours if requirement_name(r) == LEGACY_DKMS_SDK]
    if legacy and not force:
        reason = (
            f"install_requires still names {legacy[0]} (pyopenssl<23.3 -> cryptography<42, protobuf<4 by "
            "design); strict once it is gone (--force to resolve anyway)"
        )
        log.say(f"SKIP: {reason}")
        return f"skipped: {reason}"
    newest = _versions(report(venv, log, workdir / "newest.json", "--no-deps", *NEIGHBOURS))
    chosen = _versions(report(venv, log, workdir / "joint.json", f"{source}[{EXTRA}]", *NEIGHBOURS))
    log.say(f"{'distribution':42} {'newest':>12} {'pip chose':>12}")
    held = []
    for name in NEIGHBOURS:
        mark = ""
        if chosen.get(name) != newest.get(name):
            held.append(f"{name} {chosen.get(name)} < {newest.get(name)}")
            mark = "  HELD BELOW NEWEST"
        log.say(f"{name:42} {newest.get(name, '?'):>12} {chosen.get(name, '?'):>12}{mark}")
    others = ", ".join(f"{n} {v}" for n, v in sorted(chosen.items()) if n not in NEIGHBOURS)
    log.say(f"with {DIST_NAME}[{EXTRA}]: {others}")
    if held:
        raise CheckFailed("pip held back: " + "; ".join(held))
    return "ok"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="resolve even with the legacy DKMS SDK pins")
    parser.add_argument(
        "--project", type=Path, default=ROOT, help="the git checkout to check (default: this one)"
    )
    args = parser.parse_args()
    python, why = find_python(11)
    if python is None:
        print(f"FAILED: python3.11 is required: {why}", file=sys.stderr)
        return 1
    log = Log(f"resolver ({python})")
    with tempfile.TemporaryDirectory(prefix="resolver-check-") as tmp:
        try:
            status = check_resolver(log, python, Path(tmp), force=args.force, project=args.project.resolve())
        except CheckFailed as exc:
            log.say(f"FAILED: {exc}")
            status = "FAILED"
    print(log.render(), flush=True)
    return 1 if status == "FAILED" else 0


if __name__ == "__main__":
    raise SystemExit(main())

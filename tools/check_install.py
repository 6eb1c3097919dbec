"""``make test-install``: the checkout installs with old and new pips, on every Python 3.10-3.13 here.

Each check runs in its own throw-away venv under one temporary folder (pip's cache is shared) and
installs a clean copy of the tree (the files git tracks) non-editably, as ``pip install .`` of a
fresh clone does:

    pip-24.2     python3.11 with pip 24.2 (the pip of Python 3.13.0; pips 24.1-25.3 rejected a
                 version-like extra name)
    pip-newest   python3.11 with the newest pip
    python3.10   \\
    python3.12    > each Python found on PATH or in ~/.pyenv/versions, with the pip its
    python3.13   /  ``python -m venv`` brings (a missing one is skipped with the reason printed)
    resolver     tools/check_resolver.py (newest releases of the neighbours, see there)

Each install check then prints what pip installed, runs ``pip check``, checks what a plain install
brought, imports every public package from the venv and fetches one credential through the emulator
from the DKMS and the KMS-gateway source and through the console script (tools/install_roundtrip.py).

Two checks run at a time (the machine budget is 2 cores; most of the time is download and unzip).
Exit status 1 when any check fails; python3.11 itself is required.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pipenv import PINNED_PIP, ROOT, CheckFailed, Log, clean_copy, find_python, make_venv, run  # noqa: E402
from check_resolver import check_resolver  # noqa: E402

TOOLS = Path(__file__).resolve().parent
ROUNDTRIP = TOOLS / "install_roundtrip.py"
OTHER_PYTHONS = (10, 12, 13)
# Installed after the plain-install check and before the round trip, should the emulator ever need
# a package that install_requires does not bring (the product must not need it).
EMULATOR_REQUIREMENTS: tuple[str, ...] = ()


def install_check(log: Log, python: str, pip_args: tuple[str, ...], workdir: Path, project: Path) -> str:
    """Install a clean copy of ``project`` with ``pip_args`` applied to the venv's pip first."""
    venv = make_venv(log, python, workdir / "venv")
    if pip_args:
        venv.pip(log, "install", "--quiet", *pip_args)
    version = run(log, [venv.python, "-c", "import sys; print(sys.version.split()[0])"]).strip()
    log.say(f"Python {version}, pip {venv.pip_version(log)}")
    source = clean_copy(workdir / "src", project)
    venv.pip(log, "install", str(source))
    installed = venv.freeze(log)
    listed = ", ".join(f"{name}=={ver}" for name, ver in sorted(installed.items()))
    log.say(f"pip installed {len(installed)} distributions: {listed}")
    venv.pip(log, "check")
    run(log, [venv.python, str(ROUNDTRIP), "--plain"], cwd=workdir, show=True)
    if EMULATOR_REQUIREMENTS:
        venv.pip(log, "install", "--quiet", *EMULATOR_REQUIREMENTS)
    run(log, [venv.python, str(ROUNDTRIP), "--roundtrip"], cwd=workdir, show=True)
    return "ok"


@dataclass
class Check:
    name: str
    action: Callable[[Log, Path], str] | None
    status: str = "pending"
    seconds: float = 0.0


def plan(only: set[str], force_resolver: bool, project: Path) -> tuple[list[Check], str]:
    """The checks to run and the python3.11 they use (required)."""
    python311, why = find_python(11)
    if python311 is None:
        raise CheckFailed(f"python3.11 is required for the install checks: {why}")
    checks: list[Check] = []
    if "resolver" in only:

        def resolver(log: Log, workdir: Path) -> str:
            return check_resolver(log, python311, workdir, force=force_resolver, project=project)

        checks.append(Check("resolver", resolver))
    if "pip" in only:
        for name, pip_args in (("pip-newest", ("--upgrade", "pip")), ("pip-24.2", (PINNED_PIP,))):
            checks.append(Check(name, _installer(python311, pip_args, project)))
    if "pythons" in only:
        for minor in OTHER_PYTHONS:
            python, reason = find_python(minor)
            check = Check(f"python3.{minor}", _installer(python, (), project) if python else None)
            if python is None:
                check.status = f"skipped: {reason}"
            checks.append(check)
    return checks, python311


def _installer(python: str, pip_args: tuple[str, ...], project: Path) -> Callable[[Log, Path], str]:
    def action(log: Log, workdir: Path) -> str:
        log.say(f"interpreter: {python}")
        return install_check(log, python, pip_args, workdir, project)

    return action


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        action="append",
        choices=("pip", "pythons", "resolver"),
        help="run only these groups (repeatable; default: all)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="checks run at a time (default 2)")
    parser.add_argument("--force-resolver", action="store_true", help="see check_resolver.py --force")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--project", type=Path, default=ROOT, help="the git checkout to install (default: this one)"
    )
    args = parser.parse_args()
    began = time.monotonic()
    try:
        only = set(args.only or ("pip", "pythons", "resolver"))
        checks, python311 = plan(only, args.force_resolver, args.project.resolve())
    except CheckFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    base = Path(tempfile.mkdtemp(prefix="install-check-"))
    print(
        f"install checks of {args.project.resolve()} in {base} (python3.11: {python311}); "
        f"{args.jobs} at a time",
        flush=True,
    )
    for check in checks:
        if check.action is None:
            print(f"== {check.name}: {check.status}", flush=True)
    printing = threading.Lock()

    def execute(check: Check) -> None:
        assert check.action is not None  # noqa: S101 - only runnable checks are submitted
        log = Log(check.name)
        with printing:
            print(f"-- {check.name}: started", flush=True)
        try:
            check.status = check.action(log, base / check.name)
        except CheckFailed as exc:
            log.say(f"FAILED: {exc}")
            check.status = "FAILED"
        except Exception as exc:  # noqa: BLE001 - a bug in a check must still be reported, not hang
            log.say(f"FAILED: {type(exc).__name__}: {exc}")
            check.status = "FAILED"
        check.seconds = log.elapsed()
        with printing:
            print(f"{log.render()}\n-- {check.name}: {check.status} ({check.seconds:.0f} s)", flush=True)

    runnable = [check for check in checks if check.action is not None]
    try:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            list(pool.map(execute, runnable))
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print("\ninstall checks:")
    for check in checks:
        took = f"{check.seconds:5.0f} s" if check.action is not None else "      "
        print(f"  {check.name:12} {took}  {check.status}")
    failed = [check.name for check in checks if check.status == "FAILED"]
    skipped = sum(check.status.startswith("skipped") for check in checks)
    passed = len(checks) - len(failed) - skipped
    print(f"total {time.monotonic() - began:.0f} s" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    # the plain closing line a CI log reader counts, as it counts pytest's
    print(f"install-checks: {passed} passed, {len(failed)} failed, {skipped} skipped", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

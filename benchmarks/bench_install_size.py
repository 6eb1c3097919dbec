"""6. Install size: what a plain install adds to an application's environment.

For a set of requirements, a throw-away venv (this interpreter's Python) gets ``pip install`` of
exactly that set; the figures are the distributions pip added (pip, setuptools and wheel left out)
and the bytes of the files they added to site-packages (file sizes, ``.pyc`` compiled by pip
included; MB = 10^6 bytes), largest distributions listed.

``make bench`` measures two sets, so every run gives a before/after pair:

* this checkout's ``install_requires`` (read from setup.py as it is now);
* the comparison set: while ``install_requires`` names the legacy DKMS SDK, the same set without it
  (``alibabacloud-dkms-gcs``, ``alibabacloud-dkms-transfer-python``, ``protobuf``, ``pyOpenSSL``) and
  with ``cryptography>=42.0.4``; once it no longer does, the same set plus the legacy SDK and its pins.

The package itself (a wheel of this checkout, installed with ``--no-deps``) is reported on its own.
Any other set: ``python benchmarks/bench_install_size.py --requirement 'oss2>=2.16' --requirement ...``
(or ``--project DIR`` for another checkout's ``install_requires``). Needs PyPI (pip's cache helps).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import runpy
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import _util  # noqa: E402
from _pipenv import clean_copy  # noqa: E402
from _util import emit, table  # noqa: E402

LEGACY_DKMS_SDK = (
    "alibabacloud-dkms-transfer-python>=0.1.3",
    "alibabacloud-dkms-gcs>=1.0.2",
    "cryptography>=41,<42",
    "protobuf>=3.20,<4",
)
_LEGACY_NAMES = {"alibabacloud-dkms-transfer-python", "alibabacloud-dkms-gcs", "protobuf", "pyopenssl"}
_VENV_OWN = {"pip", "setuptools", "wheel"}
TOP = 6

# Run with the venv's interpreter: every distribution's name, version and the bytes of its files.
_MEASURE = r"""
import json, os, sys, sysconfig
from importlib import metadata
site = sysconfig.get_paths()["purelib"]
dists = []
for dist in metadata.distributions(path=[site]):
    size = 0
    for file in dist.files or []:
        path = file.locate()
        try:
            size += os.lstat(path).st_size
        except OSError:
            pass
    dists.append({"name": dist.metadata["Name"], "version": dist.version, "bytes": size})
total = 0
for folder, _dirs, files in os.walk(site):
    for name in files:
        try:
            total += os.lstat(os.path.join(folder, name)).st_size
        except OSError:
            pass
print(json.dumps({"dists": dists, "site_bytes": total}))
"""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _name(requirement: str) -> str:
    """The canonical distribution name a requirement string names."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return _canonical(match.group(1)) if match else ""


def install_requires(project: Path) -> list[str]:
    """``install_requires`` of ``project``'s setup.py, read by running it with ``setup`` replaced."""
    import setuptools

    captured: dict[str, Any] = {}
    original, cwd = setuptools.setup, os.getcwd()
    setuptools.setup = lambda **kwargs: captured.update(kwargs)
    try:
        os.chdir(project)  # setup.py reads README.md relative to the working directory
        runpy.run_path(str(project / "setup.py"))
    finally:
        setuptools.setup = original
        os.chdir(cwd)
    return [str(r) for r in captured["install_requires"]]


def comparison_set(requirements: Sequence[str]) -> tuple[str, list[str]]:
    """The other half of the before/after pair for ``requirements`` (see the module docstring)."""
    if "alibabacloud-dkms-gcs" in {_name(r) for r in requirements}:
        kept = [r for r in requirements if _name(r) not in _LEGACY_NAMES | {"cryptography"}]
        return "without the legacy DKMS SDK, cryptography>=42.0.4", [*kept, "cryptography>=42.0.4"]
    kept = [r for r in requirements if _name(r) != "cryptography"]
    return "with the legacy DKMS SDK (dkms-gcs and its pins)", [*kept, *LEGACY_DKMS_SDK]


def measure(requirements: Sequence[str], workdir: Path, *, no_deps: bool = False) -> dict[str, Any]:
    """Install ``requirements`` into a fresh venv under ``workdir``; what it added."""
    venv = workdir / "venv"
    _util.note(f"  {workdir.name}: venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)  # noqa: S603 - fixed argv
    python = str(venv / "bin" / "python")

    def snapshot() -> dict[str, Any]:
        done = subprocess.run(  # noqa: S603 - fixed argv
            [python, "-c", _MEASURE], check=True, capture_output=True, text=True
        )
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_USER", "PIP_TARGET")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    # the newest pip: the venv's bundled one may be years old (and backtracks far more slowly)
    upgrade = [python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"]
    subprocess.run(upgrade, check=True, capture_output=True, env=env)  # noqa: S603 - fixed argv
    began = time.monotonic()
    empty = snapshot()
    done = subprocess.run(  # noqa: S603 - fixed argv, requirement strings from setup.py or the caller
        [python, "-m", "pip", "install", "--quiet", *(["--no-deps"] if no_deps else []), *requirements],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=900,
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"pip install failed for {list(requirements)}:\n{tail}")
    after = snapshot()
    _util.note(f"  {workdir.name}: pip install took {time.monotonic() - began:.0f} s")
    before = {_canonical(d["name"]) for d in empty["dists"]}
    added = [d for d in after["dists"] if _canonical(d["name"]) not in before | _VENV_OWN]
    added.sort(key=lambda d: d["bytes"], reverse=True)
    return {"dists": added, "bytes": after["site_bytes"] - empty["site_bytes"]}


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _row(label: str, result: dict[str, Any]) -> list[object]:
    largest = ", ".join(f"{d['name']} {d['version']} {_mb(d['bytes'])}" for d in result["dists"][:TOP])
    notable = {_canonical(d["name"]): d["version"] for d in result["dists"]}
    pins = ", ".join(f"{n} {notable[n]}" for n in ("cryptography", "pyopenssl", "protobuf") if n in notable)
    return [label, len(result["dists"]), _mb(result["bytes"]), pins or "—", largest]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirement", action="append", help="measure this set instead (repeatable)")
    parser.add_argument(
        "--project", type=Path, default=_util.ROOT, help="a git checkout whose install_requires to use"
    )
    args = parser.parse_args()
    _util.clean_environment()
    rows: list[list[object]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-install-size-") as tmp:
        if args.requirement:
            sets = [("given requirements", list(args.requirement))]
        else:
            current = install_requires(args.project.resolve())
            label, other = comparison_set(current)
            sets = [("this checkout's install_requires", current), (label, other)]
        jobs: list[tuple[Sequence[str], Path, bool]] = [
            (requirements, Path(tmp) / str(index), False) for index, (_label, requirements) in enumerate(sets)
        ]
        if not args.requirement:
            # a clean copy: building in the checkout would leave build/ and *.egg-info behind
            source = clean_copy(Path(tmp) / "src", args.project.resolve())
            jobs.append(([str(source)], Path(tmp) / "ours", True))
        for label, requirements in sets:
            _util.note(f"installing {label}: {' '.join(requirements)}")
        # two at a time (2 cores; most of the time is download and unzip)
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(lambda job: measure(job[0], job[1], no_deps=job[2]), jobs))
        for (label, requirements), result in zip(sets, results[: len(sets)], strict=True):
            rows.append(_row(label, result))
            notes.append(f"{label}: `{' '.join(requirements)}`")
        if not args.requirement:
            notes.append(f"the package itself (`--no-deps`): {_mb(results[-1]['bytes'])} in site-packages")
    python = f"{_util.python_label()}; a fresh venv per set; pip chose the versions on the day of the run"
    if not args.requirement:
        ours, legacy = rows[0], rows[1]
        _util.summary(
            "plain install (`benchmarks/bench_install_size.py`)",
            f"{ours[1]} distributions, {ours[2]} in site-packages; {ours[3]}",
            f"{legacy[0]}: {legacy[1]} distributions, {legacy[2]}; {legacy[3]}",
            "no pyOpenSSL, no protobuf, cryptography ≥ 42",
            _util.verdict("pyopenssl" not in str(ours[3]) and "protobuf" not in str(ours[3])),
        )
    emit(
        table(
            "Plain install size (`benchmarks/bench_install_size.py`)",
            ["requirements", "distributions", "site-packages", "crypto pins", f"largest {TOP}"],
            rows,
            [python, *notes],
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

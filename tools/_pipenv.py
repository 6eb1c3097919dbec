"""Shared by the install checks: logged commands, throw-away venvs, a clean copy of the tree, Pythons.

Standard library only: the checks run before (and without) the project's own ``.venv``. Nothing here
prints a secret; the emulator round trip prints masked AccessKeyIds only.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DIST_NAME = "alibabacloud-managed-credentials-providers"
# The pip of Python 3.13.0's ensurepip: the first pip a new user of 3.13 runs, and one of the pips
# (24.1 to 25.3) that refused a version-like extra name.
PINNED_PIP = "pip==24.2"
COMMAND_TIMEOUT_SECONDS = 600

# Variables that would make a throw-away venv's pip or python look somewhere else: the checkout on
# PYTHONPATH would hide a broken install, PIP_USER/PIP_TARGET/PIP_PREFIX would install elsewhere.
_DROPPED_VARIABLES = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "VIRTUAL_ENV",
    "PIP_USER",
    "PIP_TARGET",
    "PIP_PREFIX",
    "PIP_REQUIRE_VIRTUALENV",
    "PIP_NO_BUILD_ISOLATION",
    "PIP_EDITABLE",
)
# pip repeats this for every project when an extra index in the machine's pip.conf is absent; it
# says nothing about our package, so failure excerpts leave it out.
_NOISE = re.compile(r"^WARNING: Location '.*' is ignored")


class CheckFailed(Exception):
    """A check failed; the message says which command and why."""


@dataclass
class Log:
    """The lines one check prints, kept together so parallel checks do not interleave."""

    title: str
    lines: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def say(self, text: str) -> None:
        self.lines.extend(text.splitlines() or [""])

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def render(self) -> str:
        body = "\n".join(f"  {line}" for line in self.lines)
        return f"== {self.title}\n{body}"


def child_environment() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in _DROPPED_VARIABLES}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


def run(log: Log, argv: list[str], *, cwd: Path | None = None, show: bool = False) -> str:
    """Run ``argv``, log the command and its duration; return stdout.

    Raises:
        CheckFailed: non-zero exit or timeout, with the last lines of its output.
    """
    log.say("$ " + shlex.join(argv))
    began = time.monotonic()
    try:
        done = subprocess.run(  # noqa: S603 - argv is built by these scripts, never from outside input
            argv,
            cwd=cwd,
            env=child_environment(),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"timed out after {COMMAND_TIMEOUT_SECONDS} s: {shlex.join(argv)}") from None
    except OSError as exc:
        raise CheckFailed(f"cannot run {argv[0]}: {exc}") from None
    output = [line for line in (done.stdout + done.stderr).splitlines() if not _NOISE.match(line)]
    if done.returncode != 0:
        log.say("\n".join(f"| {line}" for line in output[-60:]))
        raise CheckFailed(f"exit {done.returncode} from: {shlex.join(argv)}")
    if show:
        log.say("\n".join(f"| {line}" for line in output))
    log.say(f"  ({time.monotonic() - began:.1f} s)")
    return done.stdout


@dataclass(frozen=True)
class Venv:
    """A virtual environment made by :func:`make_venv`."""

    path: Path

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")

    def pip(self, log: Log, *args: str, show: bool = False) -> str:
        return run(log, [self.python, "-m", "pip", *args], show=show)

    def pip_version(self, log: Log) -> str:
        out = run(log, [self.python, "-m", "pip", "--version"])
        return out.split()[1] if len(out.split()) > 1 else out.strip()

    def freeze(self, log: Log) -> dict[str, str]:
        """``{canonical name: version}`` of what is installed (pip, setuptools and wheel left out)."""
        listed = json.loads(run(log, [self.python, "-m", "pip", "list", "--format=json"]))
        return {
            canonical(item["name"]): item["version"]
            for item in listed
            if canonical(item["name"]) not in ("pip", "setuptools", "wheel")
        }


def make_venv(log: Log, python: str, path: Path) -> Venv:
    run(log, [python, "-m", "venv", str(path)])
    return Venv(path)


def canonical(name: str) -> str:
    """A distribution name in PEP 503 form (``Foo_Bar.baz`` -> ``foo-bar-baz``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """The canonical distribution name a PEP 508 requirement string names."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return canonical(match.group(1)) if match else ""


def clean_copy(destination: Path, root: Path = ROOT) -> Path:
    """Copy the files git tracks (as they are in the work tree) to ``destination``.

    What ``pip install .`` of a fresh clone sees: no ``.venv``, no build leftovers, no untracked
    files that a clone would lack. Uncommitted edits to tracked files are included, so a local
    change (e.g. to ``install_requires``) can be checked before it is committed.
    """
    try:
        listed = subprocess.run(  # noqa: S603 - fixed argv
            ["git", "-C", str(root), "ls-files", "-z", "--cached"],  # noqa: S607 - git from PATH
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise CheckFailed(f"{root} must be a git checkout to copy its tracked files: {exc}") from None
    for raw in listed.split(b"\0"):
        if not raw:
            continue
        relative = os.fsdecode(raw)
        source = root / relative
        if not source.is_file():  # deleted in the work tree but not yet in the index
            continue
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    if not (destination / "setup.py").is_file():
        raise CheckFailed(f"no setup.py among the tracked files of {root}")
    return destination


def report(venv: Venv, log: Log, path: Path, *args: str) -> list[dict[str, Any]]:
    """``pip install --dry-run --report``: the ``install`` entries of what pip would install."""
    venv.pip(log, "install", "--dry-run", "--quiet", "--report", str(path), *args)
    installs: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["install"]
    return installs


def _probe(candidate: str, minor: int) -> str | None:
    """Why ``candidate`` cannot be used for Python 3.``minor``, or ``None`` when it can."""
    code = (
        "import sys, venv, ensurepip\n"
        f"raise SystemExit(0 if sys.version_info[:2] == (3, {minor}) else 3)\n"
    )
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, interpreters found on this machine
            [candidate, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{candidate}: {exc}"
    if done.returncode == 3:
        return f"{candidate}: not Python 3.{minor}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"{candidate}: {last}"
    return None


def find_python(minor: int) -> tuple[str | None, str]:
    """A usable ``python3.<minor>`` (with ``venv`` and ``ensurepip``), or ``None`` and why not.

    Looks on PATH, then in pyenv's versions folder (``$PYENV_ROOT`` or ``~/.pyenv``), without
    asking pyenv: a pyenv shim on PATH exists for every installed version but fails for one that
    is not selected, so every candidate is run once.
    """
    name = f"python3.{minor}"
    candidates: list[str] = []
    on_path = shutil.which(name)
    if on_path:
        candidates.append(on_path)
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = glob.glob(os.path.join(pyenv_root, "versions", f"3.{minor}*", "bin", name))
    candidates += sorted(found, key=_version_key, reverse=True)
    if not candidates:
        return None, f"no {name} on PATH or in {pyenv_root}/versions/*/bin"
    reasons = []
    for candidate in candidates:
        why = _probe(candidate, minor)
        if why is None:
            return candidate, "ok"
        reasons.append(why)
    return None, "; ".join(reasons)


def _version_key(path: str) -> tuple[int, ...]:
    folder = Path(path).parent.parent.name  # .../versions/3.12.1/bin/python3.12
    return tuple(int(part) for part in re.findall(r"\d+", folder))

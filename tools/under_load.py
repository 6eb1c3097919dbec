"""Run a command while busy-loop processes compete with it for the CPU (``make test-under-load``).

    python tools/under_load.py [--busy N] -- COMMAND [ARG ...]

A test that passes on a quiet machine and fails on a busy one is a flaky test: it asserts something
about timing rather than ordering. This script reproduces a busy CI box on purpose: it starts ``N``
processes (default: one per CPU) that spin forever, runs ``COMMAND``, and stops the spinners whatever
the command's result, even when the script itself is interrupted. Its exit status is the command's.

The spinners also watch their parent: if this script is killed outright (``SIGKILL``, where no
``finally`` runs), each of them notices within a fraction of a second that it has been reparented
and exits, so no spinner is ever left behind.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

# Spins, and every few million iterations checks that the process that started it is still its parent.
_SPINNER = """
import os, sys
parent = int(sys.argv[1])
while os.getppid() == parent:
    for _ in range(2_000_000):
        pass
"""


def _start_spinners(count: int) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen([sys.executable, "-c", _SPINNER, str(os.getpid())])  # noqa: S603 - our own interpreter
        for _ in range(count)
    ]


def _stop(spinners: Sequence[subprocess.Popen[bytes]]) -> None:
    for spinner in spinners:
        if spinner.poll() is None:
            spinner.kill()
    for spinner in spinners:
        spinner.wait()


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the ``finally`` that stops the spinners


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 2, help="spinning processes")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or args.busy < 0:
        parser.error("give a command after --, and a --busy count >= 0")
    signal.signal(signal.SIGTERM, _exit_on_signal)
    spinners: list[subprocess.Popen[bytes]] = []
    began = time.monotonic()
    try:
        spinners = _start_spinners(args.busy)
        print(f"under_load: {len(spinners)} busy-loop processes started", flush=True)
        status = subprocess.call(command)  # noqa: S603 - the command the developer asked for
    finally:
        _stop(spinners)
    elapsed = time.monotonic() - began
    verdict = "passed" if status == 0 else f"FAILED (exit status {status})"
    print(f"under_load: {' '.join(command)} {verdict} in {elapsed:.0f} s with {len(spinners)} busy loops")
    return status


if __name__ == "__main__":
    sys.exit(main())

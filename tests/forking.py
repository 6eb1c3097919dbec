"""Running a check in a forked child without ever hanging the test run."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable

HUNG = 3  # the child's exit status when its check did not finish


def run_in_child(
    check: Callable[[], int], timeout: float = 30.0, in_parent: Callable[[], object] | None = None
) -> int:
    """Fork; run ``check`` in the child and return its exit status (``-9`` if it had to be killed).

    ``in_parent`` runs in the parent right after the fork (e.g. to release something the child's
    copy must not see released).

    Logging is disabled around the fork: a log handler's stream lock held by another thread at that
    moment would stay locked forever in the child (a Python hazard, not the code under test). The
    parent polls the child with a deadline instead of blocking in ``waitpid``.
    """
    logging.disable(logging.CRITICAL)
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through its exit status
            code = HUNG
            try:
                code = check()
            finally:
                os._exit(code)
    finally:
        logging.disable(logging.NOTSET)
    if in_parent is not None:
        in_parent()
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return -9
        time.sleep(0.02)  # polling another process's exit, not waiting for a thread of ours

"""Whether a ``cache_dir`` may be trusted: the one rule, used by the config check and by the store.

The on-disk cache holds encrypted secrets and a lock file per secret. Anyone who can write into the
folder can plant a symbolic link there (so that a file the process opens lands elsewhere), a FIFO (so
that a read blocks), or an older file (a revoked key). So the folder must be a real folder (not a
symbolic link), owned by the process's effective user, and writable by nobody else. Reading by group
or others is tightened to 0700 by the store rather than refused: it cannot plant anything.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["folder_problem"]


def folder_problem(status: os.stat_result, folder: Path | str) -> str | None:
    """What makes ``folder`` (its ``lstat`` or ``fstat`` result) unsafe as a cache folder, and the fix.

    Returns:
        ``None`` when it may be used, else a sentence naming the folder and the fix.
    """
    mode = status.st_mode
    if stat.S_ISLNK(mode):
        return (
            f"{folder} is a symbolic link; name the real folder (a link can be re-pointed at a folder "
            "another user controls)"
        )
    if not stat.S_ISDIR(mode):
        return f"{folder} is not a folder; name a folder for the cache"
    euid = os.geteuid()
    if status.st_uid != euid:
        return (
            f"{folder} is owned by uid {status.st_uid}, not by this process's user (uid {euid}); its "
            f"owner could replace the cache files in it: `chown {euid} {folder}` or choose a folder of "
            "your own"
        )
    if stat.S_IMODE(mode) & 0o022:
        return (
            f"{folder} is writable by group or others (mode {stat.S_IMODE(mode):o}), who could plant "
            f"files in it; `chmod 700 {folder}` or choose a private folder"
        )
    return None

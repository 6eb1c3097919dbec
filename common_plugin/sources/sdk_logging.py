"""Keep aliyunsdkcore's logging from ever printing a SecretData.

aliyunsdkcore logs response bodies at DEBUG in ``do_action_with_exception`` (we never fetch through
it) and, at WARNING, any body it cannot parse as JSON, which for a truncated 200 reply is part of a
SecretData. We drop exactly those records with a filter on its logger: the only change we make to
another library's logging, made for a security reason. (alibabacloud-tea's ``DEBUG=sdk`` dump shows
headers only: a request signature, no secret.)
"""

from __future__ import annotations

import logging
import threading

__all__ = ["silence_sdk_wire_logging"]

_installed = False
_lock = threading.Lock()


class _DropUnparsedBodies(logging.Filter):
    """Drop aliyunsdkcore's "Failed to parse response as json format. Response:<body>" records."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Failed to parse response as json format")


def silence_sdk_wire_logging() -> None:
    """Install the filter once per process. Idempotent and thread-safe."""
    global _installed
    with _lock:
        if _installed:
            return
        logging.getLogger("aliyunsdkcore.client").addFilter(_DropUnparsedBodies())
        _installed = True

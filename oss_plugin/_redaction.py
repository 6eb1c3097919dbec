"""Keep ``oss2``'s DEBUG logging from printing the STS token of a managed credential.

``oss2`` 2.19.1 logs every request's headers at DEBUG (``oss2.http`` "Init request"/"Send request"),
its string to sign (``oss2.auth``, which for v1 and v4 contains the ``x-oss-security-token`` header,
and for pre-signed URLs the ``security-token`` parameter), and caller headers (``oss2.api``,
``oss2.resumable``). With a managed secret that holds an STS token, the token is a credential, so we
mask it with a filter on exactly those loggers: the only change we make to ``oss2``'s logging, made
for a security reason (house style rule 5), like :mod:`common_plugin.sources.sdk_logging` does for
aliyunsdkcore. Levels, handlers and every other record are left alone. The AccessKeySecret never
appears in these records (only HMACs made with it).
"""

from __future__ import annotations

import logging
import re
import threading

__all__ = ["install_token_redaction", "redact_tokens"]

# Filters apply only on the logger that creates a record (not on ancestors), hence the list.
_OSS2_LOGGERS = ("oss2.http", "oss2.auth", "oss2.api", "oss2.resumable")
# 'x-oss-security-token': 'TOKEN'   x-oss-security-token:TOKEN\n   security-token=TOKEN&
_TOKEN = re.compile(r"((?:x-oss-)?security-?token['\"]?\s*[:=]\s*['\"]?)([^'\"\s,&}\\]+)", re.IGNORECASE)
_MASK = "****"

_installed = False
_lock = threading.Lock()


def redact_tokens(text: str) -> str:
    """``text`` with every security-token value replaced by ``****``."""
    return _TOKEN.sub(lambda match: match.group(1) + _MASK, text)


class _RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:  # oss2 formats eagerly, but a future version may not
            try:
                message = record.getMessage()
            except (TypeError, ValueError):
                return True
            record.msg, record.args = message, ()
        if isinstance(record.msg, str) and "token" in record.msg.lower():
            record.msg = redact_tokens(record.msg)
        return True


def install_token_redaction() -> None:
    """Install the filter on ``oss2``'s loggers once per process. Idempotent and thread-safe."""
    global _installed
    with _lock:
        if _installed:
            return
        redactor = _RedactTokens()
        for name in _OSS2_LOGGERS:
            logging.getLogger(name).addFilter(redactor)
        _installed = True

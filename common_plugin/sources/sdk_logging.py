"""Keep the SDKs' logging from ever printing a SecretData, an STS token or a request's secret.

aliyunsdkcore logs response bodies at DEBUG in ``do_action_with_exception`` (we never fetch through
it, but an application may) and, at WARNING, any body it cannot parse as JSON, which for a
truncated 200 reply is part of a SecretData. Its DEBUG line "Request received. ... Params: {...}"
lists the signed query parameters, which with an STS key (``credentials_type=ram_role`` for the
gateway, or a managed secret holding an STS token used by ``ProxyAcsClient``) include the
``SecurityToken``. oss2 logs, at DEBUG, its request headers and string to sign, which hold
``x-oss-security-token`` for an STS key. The Tea cores' ``DEBUG=sdk`` dumps (``darabonba-core`` for
Tea V2 clients, ``alibabacloud-tea`` for the DKMS client and the credentials providers) list request
headers, ``x-acs-security-token`` among them when the signing key is an STS key.

We drop or mask exactly those records with filters on the SDKs' loggers, installed when
:mod:`common_plugin.sources` is imported (so every plugin is covered, whatever it builds first): the
only change we make to other libraries' logging, made for a security reason.
"""

from __future__ import annotations

import logging
import re
import threading

__all__ = ["redact_tokens", "silence_sdk_wire_logging"]

_installed = False
_lock = threading.Lock()
_TOKEN_PARAMS = ("SecurityToken", "x-acs-security-token")
_MASK = "****"
# 'x-oss-security-token': 'CAIS...'  /  x-oss-security-token:CAIS...\n  /  security-token=CAIS...&
_TOKEN_TEXT = re.compile(r"""(?i)((?:x-oss-|x-acs-)?security-?token['"]?\s*[:=]\s*['"]?)[^'"\s\\&,;}]+""")


class _AcsClientFilter(logging.Filter):
    """aliyunsdkcore.client: drop unparsed bodies and GetSecretValue bodies; mask STS tokens."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith("Failed to parse response as json format"):
            return False
        if isinstance(record.args, tuple):
            if message.startswith("Request received"):
                record.args = tuple(_mask_params(arg) for arg in record.args)
            elif message.startswith("Response received") and any(
                b"SecretData" in arg if isinstance(arg, bytes) else "SecretData" in str(arg)
                for arg in record.args
            ):
                record.msg = "Response received (a body holding SecretData is not logged)"
                record.args = ()
        return True


def redact_tokens(text: str) -> str:
    """``text`` with every security-token value (header, parameter or dict form) replaced by ``****``."""
    return _TOKEN_TEXT.sub(lambda m: m.group(1) + _MASK, text)


class _MaskTokensFilter(logging.Filter):
    """Mask STS tokens in messages (oss2 headers and strings to sign, the Tea cores' header dumps)."""

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


def _mask_params(arg: object) -> object:
    if isinstance(arg, dict) and any(name in arg for name in _TOKEN_PARAMS):
        return {key: _MASK if key in _TOKEN_PARAMS else value for key, value in arg.items()}
    return arg


def silence_sdk_wire_logging() -> None:
    """Install the filters once per process. Idempotent and thread-safe."""
    global _installed
    with _lock:
        if _installed:
            return
        logging.getLogger("aliyunsdkcore.client").addFilter(_AcsClientFilter())
        # Filters apply only on the logger that creates a record (not its ancestors), hence the list.
        for name in (
            "aliyunsdkcore.http.http_response",
            "oss2.auth",
            "oss2.http",
            "oss2.api",
            "oss2.resumable",
            "darabonba-core",
            "alibabacloud-tea",
        ):
            logging.getLogger(name).addFilter(_MaskTokensFilter())
        _installed = True

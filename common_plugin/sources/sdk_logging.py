"""Keep the SDKs' logging from ever printing a SecretData, an STS token or a request's secret.

aliyunsdkcore logs response bodies at DEBUG in ``do_action_with_exception`` (we never fetch through
it, but an application may) and, at WARNING, any body it cannot parse as JSON, which for a
truncated 200 reply is part of a SecretData. Its DEBUG line "Request received. ... Params: {...}"
lists the signed query parameters, which with an STS key (``credentials_type=ram_role`` for the
gateway, or a managed secret holding an STS token used by ``ProxyAcsClient``) include the
``SecurityToken``; after a ``SignatureDoesNotMatch`` it logs at ERROR (and its retry condition at
DEBUG) the server's string to sign, where the token is URL-encoded (``SecurityToken%3D...``). oss2
logs, at DEBUG, its request headers and string to sign, which hold ``x-oss-security-token`` for an
STS key, and the response headers, whose ``x-oss-err`` is the error body in base64. The Tea and
darabonba cores (``DEBUG=sdk``) and aliyunsdkcore's ``http_response`` (``DEBUG=sdk``) dump request
headers and URLs, with ``x-acs-security-token`` or ``SecurityToken=``.

We drop or redact exactly those records with filters on the SDKs' loggers, installed when
:mod:`common_plugin.sources` is imported (so every plugin is covered, whatever it builds first): the
only change we make to other libraries' logging, made for a security reason. Redaction is
:func:`common_plugin.masking.redact_secrets`, the one function our exception wrappers use too.
"""

from __future__ import annotations

import logging
import threading

from ..masking import redact_exception, redact_secrets

__all__ = ["silence_sdk_wire_logging"]

_installed = False
_lock = threading.Lock()

# Filters apply only on the logger that creates a record (not its ancestors), hence the list of
# every logger these SDK versions create (aliyun-python-sdk-core 2.16.1, oss2 2.19.1,
# alibabacloud-tea 0.4.3, darabonba-core 1.0.9).
_REDACTED_LOGGERS = (
    "aliyunsdkcore",
    "aliyunsdkcore.http.http_response",
    "aliyunsdkcore.retry.retry_condition",
    "aliyunsdkcore.auth.signers.access_key_signer",
    "aliyunsdkcore.auth.signers.sts_token_signer",
    "aliyunsdkcore.auth.signers.ram_role_arn_signer",
    "aliyunsdkcore.auth.signers.ecs_ram_role_signer",
    "aliyunsdkcore.auth.signers.rsa_key_pair_signer",
    "oss2",
    "oss2.api",
    "oss2.auth",
    "oss2.credentials",
    "oss2.crypto",
    "oss2.crypto_bucket",
    "oss2.http",
    "oss2.models",
    "oss2.resumable",
    "oss2.select_response",
    "oss2.task_queue",
    "oss2.utils",
    "oss2.xml_utils",
    "alibabacloud-tea",
    "darabonba-core",
)


def _redact_record(record: logging.LogRecord) -> None:
    """Format ``record`` now (the SDKs format eagerly anyway) and redact its text and exception."""
    if record.args:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # logging would print msg and args raw to stderr instead
            message = f"{record.msg!s} % {record.args!r}"
        record.msg, record.args = message, ()
    if not isinstance(record.msg, str):
        record.msg = str(record.msg)
    record.msg = redact_secrets(record.msg)
    if record.exc_info and record.exc_info[1] is not None:
        redact_exception(record.exc_info[1])
    if record.exc_text:
        record.exc_text = redact_secrets(record.exc_text)


class _AcsClientFilter(logging.Filter):
    """aliyunsdkcore.client: drop unparsed bodies and GetSecretValue bodies; redact the rest."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith("Failed to parse response as json format"):
            return False
        if (
            message.startswith("Response received")
            and isinstance(record.args, tuple)
            and any(
                b"SecretData" in arg if isinstance(arg, bytes) else "SecretData" in str(arg)
                for arg in record.args
            )
        ):
            record.msg = "Response received (a body holding SecretData is not logged)"
            record.args = ()
        _redact_record(record)
        return True


class _RedactFilter(logging.Filter):
    """Redact tokens and secrets in every record (headers, strings to sign, exceptions)."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


def silence_sdk_wire_logging() -> None:
    """Install the filters once per process. Idempotent and thread-safe."""
    global _installed
    with _lock:
        if _installed:
            return
        logging.getLogger("aliyunsdkcore.client").addFilter(_AcsClientFilter())
        for name in _REDACTED_LOGGERS:
            logging.getLogger(name).addFilter(_RedactFilter())
        _installed = True

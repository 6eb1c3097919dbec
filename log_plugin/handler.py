"""The default judgement of "this Log Service error means the managed key was rejected".

Log Service answers a deleted AccessKey with HTTP 401 ``Unauthorized`` ("AccessKeyId not found:
<id>"), a disabled one with ``Unauthorized`` ("AccessKeyId is disabled: <id>"), and an expired or
invalid STS token with ``Unauthorized`` too ("The security token you provided has expired." /
"... is invalid."); see docs/protocols.md section 4. ``aliyun-log-python-sdk`` raises them as
``LogException`` whose ``get_error_code()`` is the code. The SDK's own list of authentication codes
(``_auth_code_set`` in ``aliyun/log/logclient.py``, 0.9.52) adds ``InvalidAccessKeyId``,
``InvalidAccessKeyId.NotFound``, ``SecurityTokenExpired`` and ``SecurityToken.Expired``; we judge
those rejected too.

Not judged rejected: ``Unauthorized`` whose message is a RAM/STS permission denial ("denied by sts or
ram, action: ..."), which a fresh copy of the same key would not cure, and ``SignatureNotMatch``
(a wrong secret), as for the other clients.
"""

from __future__ import annotations

from common_plugin.ak_expire_handler import ErrorCodeExpireHandler, error_code_of

__all__ = ["LOG_KEY_REJECTED_CODES", "LogAKExpireHandler"]

LOG_KEY_REJECTED_CODES: tuple[str, ...] = (
    "InvalidAccessKeyId",
    "InvalidAccessKeyId.NotFound",
    "SecurityToken.Expired",
    "SecurityTokenExpired",
    "Unauthorized",
)
"""The codes judged a rejected key (``Unauthorized`` only when it is not a permission denial)."""

_PERMISSION_DENIAL = "denied by sts or ram"


class LogAKExpireHandler(ErrorCodeExpireHandler):
    """The default handler of :class:`~log_plugin.ProxyLogClient` and the managed logging handlers.

    Judges a ``LogException`` expired when its error code is one of :data:`LOG_KEY_REJECTED_CODES`
    or of ``extra_codes``, except an ``Unauthorized`` that denies a permission.

    Args:
        *extra_codes: further error codes to treat as a rejected key.

    Thread-safe: immutable after construction.
    """

    def __init__(self, *extra_codes: str) -> None:
        super().__init__((*LOG_KEY_REJECTED_CODES, *extra_codes))

    def judge_ak_expire(self, exception: BaseException) -> bool:
        code = error_code_of(exception)
        if code not in self.codes:
            return False
        if code == "Unauthorized":
            message = getattr(exception, "get_error_message", None)
            text = str(message() if callable(message) else exception)
            return _PERMISSION_DENIAL not in text.lower()
        return True

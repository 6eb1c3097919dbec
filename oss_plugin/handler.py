"""The default judgement of "this OSS error means the managed key was rejected".

OSS answers a deleted or disabled AccessKey with HTTP 403 ``InvalidAccessKeyId`` (a plain
``oss2.exceptions.ServerError``; see docs/protocols.md section 3) and an expired STS token
with ``SecurityTokenExpired``. ``SignatureDoesNotMatch``, ``AccessDenied`` and
``InvalidSecurityToken`` are deliberately *not* judged expired: they mean a wrong secret, a missing
permission or a malformed token, which a fresh copy of the same secret would not cure.
"""

from __future__ import annotations

from common_plugin.ak_expire_handler import RAM_KEY_REJECTED_CODES, ErrorCodeExpireHandler

__all__ = ["OSS_KEY_REJECTED_CODES", "OssAKExpireHandler"]

OSS_STS_TOKEN_EXPIRED_CODES = ("SecurityTokenExpired",)
OSS_KEY_REJECTED_CODES: tuple[str, ...] = (*RAM_KEY_REJECTED_CODES, *OSS_STS_TOKEN_EXPIRED_CODES)
"""``InvalidAccessKeyId``, ``InvalidAccessKeyId.NotFound`` and ``SecurityTokenExpired``."""


class OssAKExpireHandler(ErrorCodeExpireHandler):
    """The default handler of :class:`~oss_plugin.ProxyBucket` and :class:`~oss_plugin.ProxyService`.

    Judges an ``oss2`` error expired when its ``code`` (``details['Code']``) is one of
    :data:`OSS_KEY_REJECTED_CODES` or of ``extra_codes``. ``OssAKExpireHandler("InvalidAccessKeyId")``,
    the call of the suite we replace, therefore keeps working.

    Args:
        *extra_codes: further error codes to treat as a rejected key.

    Thread-safe: immutable after construction.
    """

    def __init__(self, *extra_codes: str) -> None:
        super().__init__((*OSS_KEY_REJECTED_CODES, *extra_codes))

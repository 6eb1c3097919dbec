"""The default judgement of "this MaxCompute error means the managed key was rejected".

MaxCompute answers a deleted or disabled AccessKey with HTTP 401 and the error number
``ODPS-0410051`` ("Invalid credentials - accessKeyId not found"), in an XML ``<Error>`` whose
``<Code>`` is ``InvalidParameter``; PyODPS raises it as ``odps.errors.InvalidParameter`` with ``code``
``InvalidParameter`` and the number in the message (``odps/rest.py`` 0.13.2 looks for exactly that
number to tell a credentials error from other ``InvalidParameter`` errors). An expired STS token is
``AuthenticationRequestExpired`` (ODPS-0410031), on which PyODPS itself reloads an account that can
reload (``RestClient.request``). See docs/protocols.md section 5.

Not judged rejected: ``SignatureNotMatch`` (ODPS-0410042, a wrong secret) and ``NoPermission`` /
``ODPS-0420095`` (a missing permission), which a fresh copy of the same key would not cure.
"""

from __future__ import annotations

from common_plugin.ak_expire_handler import AKExpireHandler, error_code_of

__all__ = ["MAXCOMPUTE_KEY_REJECTED_CODES", "MAXCOMPUTE_KEY_REJECTED_NUMBERS", "MaxComputeAKExpireHandler"]

MAXCOMPUTE_KEY_REJECTED_NUMBERS: tuple[str, ...] = ("ODPS-0410051",)
"""Error numbers (in the code or the message) judged a rejected key: Invalid credentials."""
MAXCOMPUTE_KEY_REJECTED_CODES: tuple[str, ...] = ("AuthenticationRequestExpired",)
"""Error codes judged a rejected key whatever their message."""


class MaxComputeAKExpireHandler(AKExpireHandler):
    """The default handler of :class:`~maxcompute_plugin.ProxyOdps` and :class:`ManagedOdpsAccount`.

    Judges an ``odps.errors.ODPSError`` expired when its ``code`` is one of
    :data:`MAXCOMPUTE_KEY_REJECTED_CODES` or of ``extra_codes``, or when its code or message carries
    one of :data:`MAXCOMPUTE_KEY_REJECTED_NUMBERS`.

    Args:
        *extra_codes: further error codes (or ``ODPS-...`` numbers) to treat as a rejected key.

    Thread-safe: immutable after construction.
    """

    def __init__(self, *extra_codes: str) -> None:
        self.codes = frozenset((*MAXCOMPUTE_KEY_REJECTED_CODES, *extra_codes))
        self.numbers = tuple(
            code for code in (*MAXCOMPUTE_KEY_REJECTED_NUMBERS, *extra_codes) if code.startswith("ODPS-")
        )

    def judge_ak_expire(self, exception: BaseException) -> bool:
        code = error_code_of(exception) or ""
        if code in self.codes:
            return True
        message = str(exception.args[0]) if exception.args else ""
        return any(number in code or number in message for number in self.numbers)

    def __repr__(self) -> str:
        return f"MaxComputeAKExpireHandler({sorted({*self.codes, *self.numbers})!r})"

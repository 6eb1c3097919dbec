"""Judging whether an SDK error means "this AccessKey is no longer valid".

Users subclass :class:`AKExpireHandler` (the interface of the suite we replace, kept so its samples run
unchanged) or pass a plain callable; :func:`as_expire_handler` turns either into a handler.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from typing import Union

__all__ = [
    "AKExpireHandler",
    "ErrorCodeExpireHandler",
    "ExpireJudge",
    "as_expire_handler",
    "error_code_of",
    "judge_safely",
]

RAM_KEY_REJECTED_CODES = ("InvalidAccessKeyId.NotFound", "InvalidAccessKeyId")
STS_TOKEN_REJECTED_CODES = ("InvalidSecurityToken.Expired",)


class AKExpireHandler(abc.ABC):
    """Decides whether an exception from a cloud call means the managed key was rejected.

    Contract: ``judge_ak_expire`` is called from the thread that made the failing call, possibly from
    many threads at once, so it must be thread-safe and fast; it must not raise (an exception it
    raises is treated as "not expired" and the original error is re-raised). Returning True makes the
    client refresh the secret once and, if the key changed, retry the call once.
    """

    @abc.abstractmethod
    def judge_ak_expire(self, exception: BaseException) -> bool:
        """Return True when ``exception`` says the AccessKey (or its STS token) is no longer valid."""


ExpireJudge = Union[AKExpireHandler, Callable[[BaseException], bool]]


def error_code_of(exception: BaseException) -> str | None:
    """The service error code carried by an SDK exception, whichever SDK raised it.

    Understands aliyunsdkcore's ``ServerException``/``ClientException`` (``error_code``), oss2's
    ``ServerError`` (``code`` / ``details['Code']``) and Tea's ``TeaException`` (``code``).
    """
    for attribute in ("error_code", "code"):
        value = getattr(exception, attribute, None)
        if isinstance(value, str) and value:
            return value
    details = getattr(exception, "details", None)
    if isinstance(details, dict):
        value = details.get("Code")
        if isinstance(value, str) and value:
            return value
    getter = getattr(exception, "get_error_code", None)
    if callable(getter):
        try:
            value = getter()
        except Exception:  # noqa: BLE001 - a foreign getter must not break error handling
            return None
        if isinstance(value, str) and value:
            return value
    return None


class ErrorCodeExpireHandler(AKExpireHandler):
    """Judges an error expired when its code is one of ``codes``.

    Args:
        codes: the error codes that mean the key was rejected.
    """

    def __init__(self, codes: Iterable[str]) -> None:
        self.codes = frozenset(codes)
        if not self.codes:
            raise ValueError("ErrorCodeExpireHandler needs at least one error code")

    def judge_ak_expire(self, exception: BaseException) -> bool:
        return error_code_of(exception) in self.codes

    def __repr__(self) -> str:
        return f"{type(self).__name__}({sorted(self.codes)!r})"


class _CallableExpireHandler(AKExpireHandler):
    def __init__(self, judge: Callable[[BaseException], bool]) -> None:
        self._judge = judge

    def judge_ak_expire(self, exception: BaseException) -> bool:
        return bool(self._judge(exception))

    def __repr__(self) -> str:
        return f"AKExpireHandler({self._judge!r})"


def as_expire_handler(judge: object | None, default: AKExpireHandler) -> AKExpireHandler:
    """Return ``judge`` as an :class:`AKExpireHandler`: itself, a wrapped callable, or ``default``.

    Any object with a ``judge_ak_expire`` method is accepted too, so handlers written against the
    original suite's duck-typed base class keep working.

    Raises:
        TypeError: ``judge`` is neither a handler nor a callable.
    """
    if judge is None:
        return default
    if isinstance(judge, AKExpireHandler):
        return judge
    method = getattr(judge, "judge_ak_expire", None)
    if callable(method):
        return _CallableExpireHandler(method)
    if callable(judge):
        return _CallableExpireHandler(judge)
    raise TypeError(
        "ak_expire_handler must be an AKExpireHandler subclass instance or a callable "
        "taking the exception and returning bool"
    )


def judge_safely(handler: AKExpireHandler, exception: BaseException) -> bool:
    """Call ``handler`` and treat any exception it raises as "not expired"."""
    try:
        return bool(handler.judge_ak_expire(exception))
    except Exception:  # noqa: BLE001 - a faulty user handler must not replace the original error
        return False

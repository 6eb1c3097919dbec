"""Masking of identifiers and redaction of secrets in text we do not write ourselves.

Our own code never puts a secret into a log line or an exception; the SDKs do. aliyunsdkcore logs,
and puts into ``ServerException``, the server's string to sign after a ``SignatureDoesNotMatch``,
in which the ``SecurityToken`` parameter is URL-encoded once (``SecurityToken%3D``) and its value
twice (``%252B``); oss2 logs its request headers and strings to sign, and its exceptions carry the
error body and headers (``x-oss-security-token:<token>``, and the same body base64-encoded in the
``x-oss-err`` header). :func:`redact_secrets` replaces the *value* in every such form, so the line
keeps its shape and its meaning. :func:`redact_exception` applies it to an exception in place,
keeping its type and every other attribute (code, status, request id).

What is redacted (names case-insensitive; ``-``/``_`` optional between words):

* ``SecurityToken``, ``security-token``, ``x-oss-security-token``, ``x-acs-security-token`` and
  ``AccessKeySecret`` / ``access_key_secret`` values, after ``=`` or ``:`` (query strings, headers,
  strings to sign, ``key=value`` reprs), quoted (JSON, Python dict reprs, backslash-escaped JSON
  inside a string), URL-encoded once or more (``%3D``, ``%253D``, ``%3A``), or as an XML element;
* ``Signature`` and ``x-oss-signature`` after ``=`` (a pre-signed OSS URL is a bearer credential
  until it expires); ``SignatureMethod``, ``SignatureNonce`` and the like are different names;
* base64 runs (the ``x-oss-err`` header) whose decoded text holds any of the above: re-encoded from
  the redacted text.

The emulator uses this module too, so it imports nothing but the standard library. All functions
are pure (or, :func:`redact_exception`, touch only the exception given) and thread-safe.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import MutableMapping, MutableSequence

__all__ = ["MASK", "mask_access_key_id", "redact_exception", "redact_secrets"]

MASK = "****"
"""What a redacted value is replaced by."""

_SECRET_NAMES = r"(?:x-(?:oss|acs)-)?security[-_]?token|access[-_]?key[-_]?secret"  # noqa: S105 - names
# ``=`` or ``:``, literal or URL-encoded any number of times (%3D, %253D, %25253D ...), with the
# quotes of JSON or a repr around it, possibly backslash-escaped (JSON inside a string).
_SEPARATOR = r"""\\*['"]?[ \t]*(?:[:=]|%(?:25)*3[ad])[ \t]*\\*['"]?"""
# A value ends at what cannot be part of a token, secret or signature: whitespace, quotes, a
# backslash (``\n`` in a repr), a query separator ``&`` (or its encoded forms), or punctuation.
_VALUE = r"""(?:\\/|(?!%(?:25)*26)[^\s'"\\&,;<>(){}\[\]])+"""


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """The redaction patterns (named values, signatures, XML elements, base64 runs), compiled on first
    use: importing a plugin should not pay for what only an error or a log record needs."""
    return (
        re.compile(rf"(?i)((?:{_SECRET_NAMES}){_SEPARATOR})({_VALUE})"),
        re.compile(rf"(?i)((?<![a-z0-9-])(?:x-oss-)?signature(?:=|%(?:25)*3d))({_VALUE})"),
        re.compile(rf"(?i)(<({_SECRET_NAMES})>)[^<]+(</\2>)"),
        re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{32,}={0,2}(?![A-Za-z0-9+/=])"),
    )


def mask_access_key_id(access_key_id: str | None) -> str:
    """Return ``LTAI****abcd``: the first and last four characters, or ``****`` when too short."""
    if not access_key_id:
        return "<none>"
    if len(access_key_id) <= 10:
        return "****" + access_key_id[-2:]
    return f"{access_key_id[:4]}****{access_key_id[-4:]}"


def _redact_plain(text: str) -> str:
    named, signature, xml, _ = _patterns()
    text = named.sub(lambda m: m.group(1) + MASK, text)
    text = signature.sub(lambda m: m.group(1) + MASK, text)
    return xml.sub(lambda m: m.group(1) + MASK + m.group(3), text)


def _redact_base64(match: re.Match[str]) -> str:
    run = match.group(0)
    if len(run) % 4:
        return run
    try:
        decoded = base64.b64decode(run, validate=True).decode("latin-1")
    except (binascii.Error, ValueError):
        return run
    redacted = _redact_plain(decoded)
    if redacted == decoded:
        return run
    return base64.b64encode(redacted.encode("latin-1")).decode("ascii")


def redact_secrets(text: str) -> str:
    """``text`` with every token, AccessKeySecret and pre-signed URL signature value replaced by
    :data:`MASK` (see the module docstring for the forms). Idempotent; ``text`` if nothing matched."""
    redacted = _redact_plain(text)
    if len(redacted) >= 32:
        redacted = _patterns()[3].sub(_redact_base64, redacted)
    return redacted


def _redact_bytes(data: bytes) -> bytes:
    text = data.decode("latin-1")  # lossless for any bytes; every form we look for is ASCII
    redacted = redact_secrets(text)
    return data if redacted == text else redacted.encode("latin-1")


_MAX_DEPTH = 6  # exceptions nest their response data a few levels deep; never walk further


def _redact_value(value: object, seen: set[int], depth: int) -> object:
    """``value`` redacted: strings and bytes replaced, containers changed in place, exceptions
    walked; any other object is returned as it is."""
    if isinstance(value, str):
        return redact_secrets(value)
    if isinstance(value, bytes):
        return _redact_bytes(value)
    if isinstance(value, bytearray):
        value[:] = _redact_bytes(bytes(value))
        return value
    if depth >= _MAX_DEPTH or id(value) in seen:
        return value
    if isinstance(value, BaseException):
        _redact_exception(value, seen, depth + 1)
    elif isinstance(value, MutableMapping):
        seen.add(id(value))
        for key, item in list(value.items()):
            new = _redact_value(item, seen, depth + 1)
            if new is not item:
                value[key] = new
    elif isinstance(value, MutableSequence):
        seen.add(id(value))
        for index, item in enumerate(list(value)):
            new = _redact_value(item, seen, depth + 1)
            if new is not item:
                value[index] = new
    elif isinstance(value, tuple):
        seen.add(id(value))
        items = tuple(_redact_value(item, seen, depth + 1) for item in value)
        if any(new is not old for new, old in zip(items, value, strict=True)):
            if type(value) is tuple:
                return items
            make = getattr(type(value), "_make", None)  # a named tuple keeps its type
            return make(items) if callable(make) else value
    return value


def _redact_exception(error: BaseException, seen: set[int], depth: int) -> None:
    if id(error) in seen:
        return
    seen.add(id(error))
    args = _redact_value(error.args, seen, depth)
    if args is not error.args:
        error.args = tuple(args)  # type: ignore[arg-type]
    attributes = getattr(error, "__dict__", None)
    if isinstance(attributes, dict):
        for name, item in list(attributes.items()):
            new = _redact_value(item, seen, depth)
            if new is not item:
                attributes[name] = new  # straight into __dict__: no property or setter runs
    for linked in (error.__cause__, error.__context__):
        if linked is not None and depth < _MAX_DEPTH:
            _redact_exception(linked, seen, depth + 1)


def redact_exception(error: BaseException) -> BaseException:
    """Redact ``error`` in place and return it: its ``args``, its attributes (strings, bytes, and the
    dicts, lists and tuples holding them, a few levels deep), and the exceptions it wraps or was
    raised from. Its class and every attribute without a secret (code, status, request id) stay as
    they were, so callers' ``except`` clauses and error-code checks see no difference.

    Thread-safety: changes only ``error`` and what it holds; call it on an exception no other thread
    is reading (an exception that has just reached our wrapper).
    """
    _redact_exception(error, set(), 0)
    return error

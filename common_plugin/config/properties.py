"""A parser for Java ``.properties`` text, the format of ``managed_credentials_providers.properties``.

It follows ``java.util.Properties.load`` so that files written for the Java sibling of this suite
read the same here, with one deliberate difference: files are read as **UTF-8** (a leading BOM is
tolerated), not ISO-8859-1. Our users write JSON values with non-ASCII text in UTF-8 editors; a
Latin-1 reading would silently turn them into mojibake. ``\\uXXXX`` escapes still work.

Syntax handled:

* a logical line is ``key`` + separator + ``value``; the separator is the first unescaped ``=``,
  ``:`` or whitespace (space, tab, form feed), whitespace around it is skipped, and one ``=`` or
  ``:`` may follow whitespace (``key  =  value``);
* ``#`` and ``!`` start a comment only as the first non-blank character of a line, so a ``#``
  inside a JSON value or a password is data (the system we replace cut the line there);
* a line ending in an odd number of backslashes continues on the next line, whose leading
  whitespace is dropped; a comment line never continues; a blank line ends a continuation;
* escapes ``\\t \\n \\r \\f``, ``\\uXXXX`` and ``\\`` before any other character (``\\= \\: \\#
  \\! \\\\`` and an escaped space) meaning that character;
* line breaks are ``\\n``, ``\\r\\n`` and ``\\r`` only;
* a key given twice keeps the later value, as in Java.

Values are returned exactly as written (trailing whitespace kept, as in Java); the configuration
layer strips them. Errors are :class:`~common_plugin.exceptions.ConfigError` and name the source and
line number, never the text of the line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..exceptions import ConfigError

__all__ = ["parse_properties", "parse_properties_with_lines", "read_properties_file", "read_properties_lines"]

_BLANKS = " \t\f"
_SEPARATORS = "=:"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_SIMPLE_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def parse_properties(text: str, *, source: str = "<string>") -> dict[str, str]:
    """Parse Java properties text into a dict.

    Args:
        text: the whole text; a leading BOM is ignored.
        source: a name for error messages (usually the file path).

    Returns:
        Keys and unescaped values in file order; a later duplicate replaces the earlier value.

    Raises:
        ConfigError: a malformed ``\\uXXXX`` escape. The message names ``source`` and the line.
    """
    return parse_properties_with_lines(text, source=source)[0]


def parse_properties_with_lines(
    text: str, *, source: str = "<string>"
) -> tuple[dict[str, str], dict[str, int]]:
    """:func:`parse_properties`, plus the 1-based line each kept key starts on (for messages)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = _LINE_BREAK.split(text)
    result: dict[str, str] = {}
    starts: dict[str, int] = {}
    index = 0
    while index < len(lines):
        line_number = index + 1
        logical = lines[index].lstrip(_BLANKS)
        index += 1
        if not logical or logical[0] in "#!":
            continue
        dropped = False
        while _continues(logical):
            logical = logical[:-1]
            if index >= len(lines):
                break
            following = lines[index].lstrip(_BLANKS)
            index += 1
            at_end = index == len(lines) and not following  # the text ended with the line break
            if not logical and not at_end and (not following or following[0] in "#!"):
                # Java: a line holding only a continuation starts afresh, so a blank or comment
                # line after it ends the logical line with nothing in it.
                dropped = True
                break
            logical += following
        if dropped:
            continue
        raw_key, raw_value = _split_key_value(logical)
        key = _unescape(raw_key, source, line_number)
        result[key] = _unescape(raw_value, source, line_number)
        starts[key] = line_number
    return result, starts


def read_properties_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read and parse a properties file as UTF-8 (BOM tolerated).

    Raises:
        ConfigError: the file cannot be read, is not UTF-8, or has a malformed escape. The message
            names the file (and byte offset or line), never its content.
    """
    return read_properties_lines(path)[0]


def read_properties_lines(path: str | os.PathLike[str]) -> tuple[dict[str, str], dict[str, int]]:
    """:func:`read_properties_file`, plus the line each key starts on (as
    :func:`parse_properties_with_lines`)."""
    file_path = Path(path)
    try:
        data = file_path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read properties file {file_path}: {exc.strerror or type(exc).__name__}; "
            "check the path and its permissions",
            path=str(file_path),
        ) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"properties file {file_path} is not valid UTF-8 (byte offset {exc.start}); "
            "save it as UTF-8 or write non-ASCII characters as \\uXXXX escapes",
            path=str(file_path),
        ) from None
    return parse_properties_with_lines(text, source=str(file_path))


def _continues(line: str) -> bool:
    """True when the line ends in an odd number of backslashes (a line continuation)."""
    count = len(line) - len(line.rstrip("\\"))
    return count % 2 == 1


def _split_key_value(line: str) -> tuple[str, str]:
    """Split a logical line at the first unescaped separator, as ``Properties.load`` does."""
    key_end = len(line)
    value_start = len(line)
    has_separator = False
    escaped = False
    for position, char in enumerate(line):
        if not escaped and char in _SEPARATORS:
            key_end, value_start, has_separator = position, position + 1, True
            break
        if not escaped and char in _BLANKS:
            key_end, value_start = position, position + 1
            break
        escaped = char == "\\" and not escaped
    while value_start < len(line):
        char = line[value_start]
        if char not in _BLANKS:
            if has_separator or char not in _SEPARATORS:
                break
            has_separator = True
        value_start += 1
    return line[:key_end], line[value_start:]


def _unescape(raw: str, source: str, line_number: int) -> str:
    if "\\" not in raw:
        return raw
    out: list[str] = []
    position = 0
    length = len(raw)
    while position < length:
        char = raw[position]
        position += 1
        if char != "\\" or position >= length:
            # A lone trailing backslash can only survive at the very end of the text; Java drops it.
            if char != "\\":
                out.append(char)
            continue
        char = raw[position]
        position += 1
        if char == "u":
            digits = raw[position : position + 4]
            if len(digits) != 4 or not _HEX_DIGITS.issuperset(digits):
                raise ConfigError(
                    f"{source}, line {line_number}: malformed \\uXXXX escape; write exactly four "
                    "hex digits after \\u, or \\\\u for a literal backslash-u",
                    path=None if source == "<string>" else source,
                )
            out.append(chr(int(digits, 16)))
            position += 4
        else:
            out.append(_SIMPLE_ESCAPES.get(char, char))
    return "".join(out)

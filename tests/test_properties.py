"""The Java-properties parser: syntax table, errors, file reading, and property-based tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common_plugin.config.properties import (
    parse_properties,
    parse_properties_with_lines,
    read_properties_file,
)
from common_plugin.exceptions import ConfigError

CASES = [
    ("equals", "a=b", {"a": "b"}),
    ("colon", "a:b", {"a": "b"}),
    ("whitespace separator", "a b", {"a": "b"}),
    ("tab separator", "a\tb", {"a": "b"}),
    ("blanks around separator", "  a  =  b", {"a": "b"}),
    ("blank then colon", "a   :b", {"a": "b"}),
    ("second separator is data", "a = = b", {"a": "= b"}),
    ("first separator wins", "a=b=c:d", {"a": "b=c:d"}),
    ("trailing blanks kept", "a=b  ", {"a": "b  "}),
    ("key only", "a", {"a": ""}),
    ("empty value", "a=", {"a": ""}),
    ("empty key", "=b", {"": "b"}),
    ("hash comment", "# a=b\nc=d", {"c": "d"}),
    ("bang comment", "! a=b\nc=d", {"c": "d"}),
    ("indented comment", "   # a=b", {}),
    ("hash in value is data", "a=p#ss", {"a": "p#ss"}),
    ("hash in JSON is data", 'a=[{"x":"#1"}] # not a comment', {"a": '[{"x":"#1"}] # not a comment'}),
    ("blank lines", "\n\n  \na=b\n\n", {"a": "b"}),
    ("CRLF", "a=b\r\nc=d\r\n", {"a": "b", "c": "d"}),
    ("CR", "a=b\rc=d", {"a": "b", "c": "d"}),
    ("continuation", "a=one, \\\n    two", {"a": "one, two"}),
    ("continuation CRLF", "a=x\\\r\n  y", {"a": "xy"}),
    ("double continuation", "a=1\\\n 2\\\n 3", {"a": "123"}),
    ("continued line starting with hash is data", "a=1\\\n  #2", {"a": "1#2"}),
    ("comment does not continue", "# c \\\na=b", {"a": "b"}),
    ("blank line ends continuation", "a=1\\\n\nb=2", {"a": "1", "b": "2"}),
    ("even backslashes do not continue", "a=x\\\\\nb=y", {"a": "x\\", "b": "y"}),
    ("trailing backslash at end of text", "a=x\\", {"a": "x"}),
    # Checked against java.util.Properties (JDK 17): a line holding only a continuation starts the
    # next line afresh, so a comment or blank line after it leaves nothing.
    ("lone continuation, then a comment", "\\\n!a=b\nc=d", {"c": "d"}),
    ("lone continuation, then a blank line", "\\\n\nc=d", {"c": "d"}),
    ("indented lone continuation, then a hash", "  \\\n#x=y", {}),
    ("lone continuation, then data", "\\\n  a=b", {"a": "b"}),
    ("escapes", r"a=\t\n\r\f\\\=\:\#\!\ \q", {"a": "\t\n\r\f\\=:#! q"}),
    ("unicode escape", r"a=caf\u00e9 \u4E2D", {"a": "café 中"}),
    ("escaped separators in key", r"my\=key\:x\ y=v", {"my=key:x y": "v"}),
    ("escaped leading blank of value", r"a=\  b", {"a": "  b"}),
    ("duplicate: later wins", "a=1\na=2", {"a": "2"}),
    ("BOM", "\ufeffa=b", {"a": "b"}),
    ("non-ASCII raw", "a=ä€😀", {"a": "ä€😀"}),
    ("vertical tab is not a line break", "a=b\x0bc", {"a": "b\x0bc"}),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_syntax(text: str, expected: dict[str, str]) -> None:
    assert parse_properties(text) == expected


@pytest.mark.parametrize("bad", [r"\u12", r"\uZZZZ", r"\u", r"\u12g4"])
def test_malformed_unicode_escape_names_source_and_line_not_text(bad: str) -> None:
    text = f"ok=1\n# comment\nkey=s3cretValue{bad}"
    with pytest.raises(ConfigError) as info:
        parse_properties(text, source="/etc/app.properties")
    message = str(info.value)
    assert "/etc/app.properties" in message
    assert "line 3" in message
    assert "s3cretValue" not in message
    assert info.value.path == "/etc/app.properties"


def test_read_file_utf8_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "x.properties"
    path.write_bytes("\ufeffname=Zoë\n".encode())
    assert read_properties_file(path) == {"name": "Zoë"}


def test_read_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "x.properties"
    path.write_bytes(b"name=\xff\xfe secret\n")
    with pytest.raises(ConfigError, match="not valid UTF-8") as info:
        read_properties_file(path)
    assert str(path) in str(info.value)
    assert "secret" not in str(info.value)


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read properties file"):
        read_properties_file(tmp_path / "absent.properties")


# --- property-based -----------------------------------------------------------------------------

_KEY_ESCAPES = {"\\": "\\\\", " ": "\\ ", "\t": "\\t", "\f": "\\f", "\n": "\\n", "\r": "\\r"}
_KEY_ESCAPES.update({c: "\\" + c for c in "=:#!"})
_KEY_ESCAPES["\ufeff"] = "\\uFEFF"  # a leading BOM would be taken for the file's byte-order mark


def _escape(text: str, *, is_key: bool) -> str:
    out = []
    for position, char in enumerate(text):
        if char in ("\\", "\n", "\r", "\ufeff") or (is_key and char in _KEY_ESCAPES):
            out.append(_KEY_ESCAPES[char])
        elif not is_key and position == 0 and char in " \t\f":
            out.append(_KEY_ESCAPES[char])
        else:
            out.append(char)
    return "".join(out)


def write_properties(values: dict[str, str]) -> str:
    """A minimal escaping writer, the inverse of the parser."""
    return "".join(f"{_escape(k, is_key=True)}={_escape(v, is_key=False)}\n" for k, v in values.items())


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), st.text(), max_size=8))
def test_round_trip(values: dict[str, str]) -> None:
    assert parse_properties(write_properties(values)) == values


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), st.text(), max_size=4), st.sampled_from(["\n", "\r\n", "\r"]))
def test_round_trip_with_comments_and_line_breaks(values: dict[str, str], newline: str) -> None:
    text = "# header #1\n! other\n\n" + write_properties(values) + "   # trailer\n"
    assert parse_properties(text.replace("\n", newline)) == values


_ALPHABET = st.sampled_from(list("ab=: \t\f#!\\u0123456789ABCDEFxyz\r\n\ufeff"))


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet=_ALPHABET)))
def test_parser_raises_only_config_error(text: str) -> None:
    try:
        result = parse_properties(text)
    except ConfigError:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in result.items())


def test_lines_are_where_each_kept_key_starts() -> None:
    text = "# comment\n\na=1\nb=one \\\n  two\r\nc=3\ra=again\n"
    values, lines = parse_properties_with_lines(text)
    assert values == {"a": "again", "b": "one two", "c": "3"}
    assert lines == {"a": 7, "b": 4, "c": 6}  # a later duplicate's line; a continuation's first line
